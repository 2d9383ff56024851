#!/usr/bin/env bash
# One Postgres, two databases: the Airflow metadata database and the MLflow tracking/registry database,
# each owned by its own login role. Run by the postgres image's entrypoint from /docker-entrypoint-initdb.d
# on the first start only (an empty data volume); idempotent all the same.
#
# Names and passwords come from the environment docker-compose.yaml passes in (values from .env):
#   AIRFLOW_DB_NAME AIRFLOW_DB_USER AIRFLOW_DB_PASSWORD  MLFLOW_DB_NAME MLFLOW_DB_USER MLFLOW_DB_PASSWORD
set -euo pipefail

create_database() {
    local database="$1" owner="$2" password="$3"
    echo "init-databases: role ${owner}, database ${database}"
    # psql variables (:'name' quotes a literal, format %I/%L quotes identifiers/literals): no injection
    # through names or passwords, whatever characters they hold.
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
        -v db="${database}" -v owner="${owner}" -v password="${password}" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner')\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'owner', :'password')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db')\gexec
SQL
}

create_database "${AIRFLOW_DB_NAME:?}" "${AIRFLOW_DB_USER:?}" "${AIRFLOW_DB_PASSWORD:?}"
create_database "${MLFLOW_DB_NAME:?}" "${MLFLOW_DB_USER:?}" "${MLFLOW_DB_PASSWORD:?}"
