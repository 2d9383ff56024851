#!/bin/sh
# One-shot job (service minio-init): creates the MLflow artifact bucket and a MinIO user for the MLflow
# server that may read and write that bucket only. Idempotent: safe on every `docker compose up`.
#
# Environment (from .env through docker-compose.yaml):
#   MINIO_ROOT_USER MINIO_ROOT_PASSWORD MLFLOW_ARTIFACT_BUCKET MLFLOW_S3_ACCESS_KEY_ID MLFLOW_S3_SECRET_ACCESS_KEY
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${MLFLOW_ARTIFACT_BUCKET:?}"
: "${MLFLOW_S3_ACCESS_KEY_ID:?}" "${MLFLOW_S3_SECRET_ACCESS_KEY:?}"
endpoint="${MINIO_ENDPOINT:-http://minio:9000}"
policy_file="$(mktemp)"

mc alias set local "${endpoint}" "${MINIO_ROOT_USER}" "${MINIO_ROOT_PASSWORD}" >/dev/null
mc mb --ignore-existing "local/${MLFLOW_ARTIFACT_BUCKET}"
mc anonymous set none "local/${MLFLOW_ARTIFACT_BUCKET}"

cat > "${policy_file}" <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
     "Resource": ["arn:aws:s3:::${MLFLOW_ARTIFACT_BUCKET}"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::${MLFLOW_ARTIFACT_BUCKET}/*"]}
  ]
}
POLICY
mc admin policy create local mlflow-artifacts "${policy_file}"
rm -f "${policy_file}"

# `user add` on an existing user resets its secret key, so a rotated MLFLOW_S3_SECRET_ACCESS_KEY takes effect.
mc admin user add local "${MLFLOW_S3_ACCESS_KEY_ID}" "${MLFLOW_S3_SECRET_ACCESS_KEY}"
# Attaching an already attached policy is an error for mc; anything else is a real failure. (Plain sh, no
# grep: the mc image is minimal.)
if ! attach_output="$(mc admin policy attach local mlflow-artifacts --user "${MLFLOW_S3_ACCESS_KEY_ID}" 2>&1)"; then
    case "${attach_output}" in
        *already*) ;;
        *) echo "${attach_output}" >&2; exit 1 ;;
    esac
fi
echo "minio-init: bucket ${MLFLOW_ARTIFACT_BUCKET} ready for user ${MLFLOW_S3_ACCESS_KEY_ID}"
