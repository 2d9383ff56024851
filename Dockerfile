# syntax=docker/dockerfile:1.7
#
# Images for the production stack in docker-compose.yaml (see docs/deployment.md).
#
#   target "airflow"  every Airflow component: api-server, scheduler, dag-processor, triggerer, Celery workers.
#                     TORCH_VARIANT picks the torch wheel: "cpu" (default) or a CUDA build such as "cu128"
#                     for the GPU worker image:
#                       docker build --target airflow -t retrain-airflow:latest .
#                       docker build --target airflow --build-arg TORCH_VARIANT=cu128 -t retrain-airflow:gpu .
#   target "mlflow"   the MLflow tracking server (Postgres backend store, artifacts proxied to S3/MinIO).
#
# Versions come from requirements.txt, installed with requirements.lock as pip constraints, so the images run
# exactly what the tests ran. No secret is baked in: everything sensitive arrives as environment at run time.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# curl: container healthchecks. tini: PID 1 that forwards signals (Celery warm shutdown) and reaps zombies.
# Not version-pinned: Debian stable only ships security fixes for them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl tini \
    && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/usr/bin/tini", "--"]


# ---------------------------------------------------------------------------------------------------------
# MLflow tracking server. Same mlflow, psycopg2 and Flask-WTF (basic-auth app) pins as the project; boto3 is needed only here, by the
# server, to write artifacts to S3/MinIO (clients upload through the server's proxied artifact API).
FROM base AS mlflow
ARG BOTO3_VERSION=1.44.5
WORKDIR /tmp/build
COPY requirements.txt requirements.lock ./
RUN grep -E '^(mlflow|psycopg2-binary|Flask-WTF)==' requirements.txt > mlflow-requirements.txt \
    && pip install -r mlflow-requirements.txt "boto3==${BOTO3_VERSION}" -c requirements.lock \
    && rm -rf /tmp/build
RUN useradd --uid 1000 --create-home --home-dir /home/mlflow --shell /usr/sbin/nologin mlflow
USER 1000
WORKDIR /home/mlflow
# The basic-auth user store lives here (named volume mlflow-auth; a new volume copies this folder's owner).
RUN mkdir -p /home/mlflow/auth
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]


# ---------------------------------------------------------------------------------------------------------
# Airflow + the retrain package.
FROM base AS airflow
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ARG AIRFLOW_UID=50000

ENV AIRFLOW_HOME=/opt/airflow \
    HOME=/opt/airflow \
    RETRAIN_PROJECT_ROOT=/opt/airflow \
    RETRAIN_DATA_ROOT=/opt/airflow/data \
    RETRAIN_LOCAL_STATE=/opt/airflow/state \
    PYTHONPATH=/opt/airflow/include

# The airflow user is in group 0 and everything under AIRFLOW_HOME is group-writable, so the containers also
# run under another uid (compose sets user: "${AIRFLOW_UID}:0").
RUN useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --no-create-home --shell /bin/bash airflow

WORKDIR /opt/airflow
COPY requirements.txt requirements.lock ./

# torch first, from the PyTorch index of the chosen variant (cpu, cu128, ...). Its local version label
# (2.x.y+cpu / +cu128) still satisfies the torch==2.x.y pin, so the next step keeps it, and installs its
# dependencies (numpy, sympy, and the nvidia-* runtime wheels of a CUDA build) from PyPI.
RUN pip install --no-deps --index-url "${TORCH_INDEX_URL}" "$(grep -E '^torch==' requirements.txt)"
RUN pip install -r requirements.txt -c requirements.lock

# The project itself. docker-compose.yaml mounts ./include over /opt/airflow/include for live code; PYTHONPATH
# puts that copy ahead of the installed one, so both the image alone (a remote GPU worker) and the mounted
# tree run the same package layout.
COPY pyproject.toml README.md* ./
COPY include ./include
RUN pip install --no-deps . \
    && rm -rf build include/*.egg-info
COPY dags ./dags
COPY plugins ./plugins

RUN mkdir -p /opt/airflow/data /opt/airflow/state /opt/airflow/logs /opt/airflow/auth \
    && chown -R "${AIRFLOW_UID}:0" /opt/airflow \
    && chmod -R g+rwX /opt/airflow

USER ${AIRFLOW_UID}
# 8080 api-server, 8793 worker log server, 8974 scheduler health check, 5555 flower
EXPOSE 8080 8793 8974 5555
CMD ["airflow", "version"]
