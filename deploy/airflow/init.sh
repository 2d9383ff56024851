#!/usr/bin/env bash
# One-shot job (service airflow-init), run before any other Airflow component starts:
#   1. migrates the Airflow metadata database (`airflow db migrate`, idempotent);
#   2. writes the admin's password for the simple auth manager from .env.
#
# Auth: Airflow 3's simple auth manager. Users are listed in AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS
# ("name:role"); their passwords live in the JSON file AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE,
# which the api-server reads at every login. Airflow generates a random password for any listed user missing
# from that file; writing the file here instead makes AIRFLOW_ADMIN_PASSWORD the admin's password, and a
# changed password takes effect on the next `docker compose up`.
set -euo pipefail

: "${AIRFLOW_ADMIN_USERNAME:?}" "${AIRFLOW_ADMIN_PASSWORD:?}"
passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"

echo "airflow-init: Airflow $(airflow version)"
airflow db migrate

mkdir -p "$(dirname "${passwords_file}")" "${RETRAIN_DATA_ROOT:?}"
python - "${passwords_file}" <<'PY'
import json
import os
import sys

path = sys.argv[1]
tmp = f"{path}.tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    json.dump({os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, fh)
    fh.write("\n")
os.replace(tmp, path)
PY
echo "airflow-init: admin user '${AIRFLOW_ADMIN_USERNAME}' written to ${passwords_file}"
