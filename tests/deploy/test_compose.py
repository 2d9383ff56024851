"""Offline checks of the production stack: docker-compose.yaml, .env.example, Dockerfile, .dockerignore.

No Docker engine is needed. The compose file is parsed as written (PyYAML; ``${VAR:?msg}`` interpolations
stay strings, which the Compose Specification allows) and validated against the Compose Specification JSON
schema, then its topology is checked rule by rule.

compose-spec.json, beside this file, is the Compose Specification schema (compose-spec/compose-spec,
schema/compose-spec.json, Apache-2.0), vendored byte for byte from the npm package dclint 3.1.0
(package/schemas/compose.schema.json, sha256 46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496).
It declares draft-07. To update it: `npm pack dclint@<version>` and copy that file here.

Every rule is a ``check_*`` function that returns a list of problems. The tests assert that the real files
have none, and ``test_check_catches_mutation`` proves that each rule does fail on a broken copy.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.support.services import MLFLOW_SERVER_ENV

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SCHEMA_FILE = Path(__file__).resolve().parent / "compose-spec.json"

Compose = dict[str, Any]

EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker-cpu",
    "airflow-worker-gpu",
    "mlflow",
    "minio",
    "minio-init",
    "flower",
    "secrets-check",
}
# Jobs that run once and exit; every other service is long-running and must report its health.
ONE_SHOT_JOBS = {"airflow-init", "minio-init", "secrets-check"}
OPTIONAL_PROFILES = {"flower": ["flower"]}
WORKER_QUEUES = {"airflow-worker-cpu": ["default"], "airflow-worker-gpu": ["gpu"]}
CODE_MOUNTS = {
    "./dags": "/opt/airflow/dags",
    "./plugins": "/opt/airflow/plugins",
    "./include": "/opt/airflow/include",
}
DATA_VOLUME = "retrain-data"
MLFLOW_URI = "http://mlflow:5000"
# Settings every Airflow component must agree on, or tokens, connections and queues stop matching.
SHARED_AIRFLOW_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW_CONN_SLACK_DEFAULT",
    "MLFLOW_TRACKING_URI",
    "RETRAIN_DATA_ROOT",
)

SECRET_WORD = re.compile(r"PASSWORD|SECRET|KEY|TOKEN")
REQUIRED_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
# In URLs, a ${...} interpolation counts as one token: it may hold ':' and spaces (the :? message).
_REF = r"\$\{[^}]*\}"
URL_CREDENTIALS = re.compile(
    rf"[a-z][a-z0-9+.-]*://(?P<user>(?:{_REF}|[^:/@\s$])*):(?P<password>(?:{_REF}|[^/@\s$])+)@"
)
URL_USER_AND_DATABASE = re.compile(
    rf"[a-z][a-z0-9+.-]*://(?P<user>(?:{_REF}|[^:/@\s$])*)(?::(?:{_REF}|[^/@\s$])*)?@[^/]+/(?P<db>(?:{_REF}|[^?$])*)"
)
PLACEHOLDER = "change-me"
# Shapes of real credentials that must never appear in .env.example.
REAL_SECRET_PATTERNS = {
    "Slack token": re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Fernet key": re.compile(r"\b[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    "long random string": re.compile(r"[A-Za-z0-9+/_=-]{32,}"),
}


# --------------------------------------------------------------------------------------------------------
# Reading the files


def load_compose(path: Path = COMPOSE_FILE) -> Compose:
    with path.open() as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as docker compose reads a .env file (comments, blank lines and quotes stripped)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env line without '=': {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def services(compose: Compose) -> dict[str, dict[str, Any]]:
    return compose.get("services") or {}


def airflow_services(compose: Compose) -> list[str]:
    names = {name for name in services(compose) if name.startswith("airflow-")}
    names |= {"flower"} & set(services(compose))
    return sorted(names)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def option_values(args: list[str], *flags: str) -> list[str]:
    """Values of ``--flag value`` and ``--flag=value`` in an argument list."""
    found = []
    for index, arg in enumerate(args):
        for flag in flags:
            if arg == flag and index + 1 < len(args):
                found.append(args[index + 1])
            elif arg.startswith(flag + "="):
                found.append(arg[len(flag) + 1 :])
    return found


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, short or long syntax."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            result.append((str(entry.get("source", "")), str(entry.get("target", ""))))
        else:
            parts = str(entry).split(":")
            result.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return result


def is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


def strings(node: Any) -> Iterator[str]:
    """Every string in the parsed file, mapping keys included (YAML comments are gone by now)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def interpolations(node: Any) -> list[re.Match[str]]:
    """Every ``${NAME...}`` compose interpolates; ``$$`` is compose's escape for a literal ``$``."""
    return [match for text in strings(node) for match in INTERPOLATION.finditer(text.replace("$$", ""))]


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    if upper.startswith("AIRFLOW_CONN_"):
        return True  # a connection URI or JSON carries its credentials
    return bool(SECRET_WORD.search(upper)) and not upper.endswith(("_FILE", "_PATH", "_DIR"))


def depends_on(service: dict[str, Any]) -> dict[str, Any] | list[str]:
    return service.get("depends_on") or {}


# --------------------------------------------------------------------------------------------------------
# The rules


def check_schema(compose: Compose, schema: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(compose), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check_services_present(compose: Compose) -> list[str]:
    return [f"service {name} is missing" for name in sorted(EXPECTED_SERVICES - set(services(compose)))]


def check_worker_queues(compose: Compose) -> list[str]:
    problems = []
    for name, expected in WORKER_QUEUES.items():
        args = command_args(services(compose).get(name, {}))
        if args[:3] != ["airflow", "celery", "worker"]:
            problems.append(f"{name}: command is not `airflow celery worker`: {args}")
        queues = [q.strip() for value in option_values(args, "--queues", "-q") for q in value.split(",")]
        if queues != expected:
            problems.append(f"{name}: consumes queues {queues}, expected exactly {expected}")
    return problems


def gpu_reservations(service: dict[str, Any]) -> list[dict[str, Any]]:
    reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    return [
        device
        for device in reservations.get("devices") or []
        if "gpu" in (device.get("capabilities") or []) and device.get("driver") == "nvidia"
    ]


def check_gpu_reservation(compose: Compose) -> list[str]:
    problems = []
    if not gpu_reservations(services(compose).get("airflow-worker-gpu", {})):
        problems.append("airflow-worker-gpu: reserves no NVIDIA device with capabilities [gpu]")
    for name, service in services(compose).items():
        if name != "airflow-worker-gpu" and gpu_reservations(service):
            problems.append(f"{name}: reserves a GPU, but only airflow-worker-gpu should")
    return problems


def check_airflow_mounts(compose: Compose) -> list[str]:
    problems = []
    declared_volumes = set((compose.get("volumes") or {}).keys())
    if DATA_VOLUME not in declared_volumes:
        problems.append(f"named volume {DATA_VOLUME} is not declared under top-level volumes")
    for name in airflow_services(compose):
        service = services(compose)[name]
        service_mounts = mounts(service)
        for source, target in CODE_MOUNTS.items():
            if (source, target) not in service_mounts:
                problems.append(f"{name}: does not mount {source} at {target}")
        data_root = environment(service).get("RETRAIN_DATA_ROOT")
        if not data_root:
            problems.append(f"{name}: RETRAIN_DATA_ROOT is not set")
        elif (DATA_VOLUME, data_root) not in service_mounts:
            problems.append(
                f"{name}: shared volume {DATA_VOLUME} is not mounted at RETRAIN_DATA_ROOT={data_root}"
            )
    return problems


def check_airflow_environment(compose: Compose) -> list[str]:
    problems = []
    seen: dict[str, dict[str, str]] = {key: {} for key in SHARED_AIRFLOW_SETTINGS}
    for name in airflow_services(compose):
        env = environment(services(compose)[name])
        expectations = {
            "AIRFLOW__CORE__EXECUTOR": lambda v: v == "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": lambda v: v.lower() == "false",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": lambda v: v.startswith("postgresql") and "@postgres:" in v,
            "AIRFLOW__CELERY__BROKER_URL": lambda v: v.startswith("redis://") and "@redis:" in v,
            "AIRFLOW__CELERY__RESULT_BACKEND": lambda v: v.startswith("db+postgresql") and "@postgres:" in v,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": lambda v: v.startswith("http://airflow-apiserver:"),
            "MLFLOW_TRACKING_URI": lambda v: v == MLFLOW_URI,
        }
        for key, ok in expectations.items():
            if key not in env:
                problems.append(f"{name}: {key} is not set")
            elif not ok(env[key]):
                problems.append(f"{name}: unexpected {key}={env[key]!r}")
        for key in SHARED_AIRFLOW_SETTINGS:
            seen[key][name] = env.get(key, "<unset>")
    for key, by_service in seen.items():
        if len(set(by_service.values())) > 1:
            problems.append(f"{key} differs between Airflow services: {by_service}")
    return problems


def check_healthchecks(compose: Compose) -> list[str]:
    problems = []
    one_shot = {name for name, service in services(compose).items() if is_one_shot(service)}
    if one_shot != ONE_SHOT_JOBS:
        problems.append(
            f"one-shot services (restart: 'no') are {sorted(one_shot)}, expected {sorted(ONE_SHOT_JOBS)}"
        )
    for name, service in services(compose).items():
        if name in ONE_SHOT_JOBS:
            continue
        health = service.get("healthcheck") or {}
        test = health.get("test")
        test_words = [test] if isinstance(test, str) else list(test or [])
        if not test_words or health.get("disable") or test_words[0] == "NONE":
            problems.append(f"{name}: long-running service without a healthcheck")
        if str(service.get("restart", "no")) not in {"always", "unless-stopped", "on-failure"}:
            problems.append(f"{name}: long-running service without a restart policy")
    return problems


def check_depends_on(compose: Compose) -> list[str]:
    problems = []
    all_services = services(compose)
    for name, service in all_services.items():
        deps = depends_on(service)
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on is a list, so it waits for nothing; use conditions")
            continue
        for target, spec in deps.items():
            condition = (spec or {}).get("condition")
            if target not in all_services:
                problems.append(f"{name}: depends on unknown service {target}")
                continue
            expected = "service_completed_successfully" if target in ONE_SHOT_JOBS else "service_healthy"
            if condition != expected:
                problems.append(
                    f"{name}: depends on {target} with condition {condition!r}, expected {expected}"
                )
            if all_services[target].get("profiles") and not service.get("profiles"):
                problems.append(f"{name}: depends on {target}, which only starts under a profile")
    return problems


def check_startup_order(compose: Compose) -> list[str]:
    """Nothing touches the metadata database before it is migrated; workers need the API and MLflow."""
    problems = []
    for name in airflow_services(compose):
        deps = depends_on(services(compose)[name])
        needed = {"postgres"} if name == "airflow-init" else {"postgres", "airflow-init"}
        if name.startswith("airflow-worker-"):
            needed |= {"redis", "airflow-apiserver", "mlflow"}
        for target in sorted(needed - set(deps)):
            problems.append(f"{name}: does not wait for {target}")
    mlflow_deps = depends_on(services(compose).get("mlflow", {}))
    for target in ("postgres", "minio-init"):
        if target not in mlflow_deps:
            problems.append(f"mlflow: does not wait for {target}")
    return problems


def check_secret_environment(compose: Compose) -> list[str]:
    problems = []
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            if is_secret_name(key) and not REQUIRED_REF.fullmatch(value):
                problems.append(f"{name}: {key} must be a required ${{VAR:?...}} reference, not {value!r}")
    return problems


def check_no_baked_secrets(compose: Compose) -> list[str]:
    """No default for a secret variable, and no literal credentials inside a URL, anywhere in the file."""
    problems = []
    for match in interpolations(compose):
        if is_secret_name(match["name"]) and (match["op"] or "").lstrip(":") != "?":
            problems.append(f"${{{match['name']}...}} must be required (:?), found {match.group(0)!r}")
    for text in strings(compose):
        for url in URL_CREDENTIALS.finditer(text):
            if not REQUIRED_REF.fullmatch(url["password"]):
                problems.append(f"literal credentials in URL {url.group(0)!r}")
    return problems


def check_env_example_placeholders(env_text: str) -> list[str]:
    problems = []
    values = parse_env_file(env_text)
    for key, value in values.items():
        if is_secret_name(key) and PLACEHOLDER not in value:
            problems.append(f".env.example: {key} must hold the placeholder {PLACEHOLDER!r}, not {value!r}")
        for label, pattern in REAL_SECRET_PATTERNS.items():
            if pattern.search(value):
                problems.append(f".env.example: {key} looks like a real {label}")
    return problems


def check_env_example_covers_compose(compose: Compose, env_text: str) -> list[str]:
    listed = parse_env_file(env_text)
    used = {match["name"] for match in interpolations(compose)}
    problems = [
        f"${{{name}}} is used in docker-compose.yaml but not listed in .env.example"
        for name in sorted(used - set(listed))
    ]
    problems += [
        f".env.example lists {name}, which docker-compose.yaml never uses"
        for name in sorted(set(listed) - used)
    ]
    for match in interpolations(compose):
        name, op, default = match["name"], (match["op"] or ""), match["arg"]
        if op.lstrip(":") == "-" and name in listed and listed[name] != default:
            problems.append(f"{name}: .env.example says {listed[name]!r}, the compose default is {default!r}")
    return problems


def check_mlflow(compose: Compose) -> list[str]:
    problems = []
    service = services(compose).get("mlflow", {})
    args, env = command_args(service), environment(service)
    if args[:2] != ["mlflow", "server"]:
        problems.append(f"mlflow: command is not `mlflow server`: {args}")
    if "--serve-artifacts" not in args or "--no-serve-artifacts" in args:
        problems.append("mlflow: artifacts are not proxied (--serve-artifacts)")
    destinations = option_values(args, "--artifacts-destination")
    if len(destinations) != 1 or not destinations[0].startswith("s3://"):
        problems.append(f"mlflow: --artifacts-destination must be one s3:// URI, found {destinations}")
    if option_values(args, "--default-artifact-root"):
        problems.append("mlflow: --default-artifact-root would bypass the proxied artifact store")
    backend = option_values(args, "--backend-store-uri") or [env.get("MLFLOW_BACKEND_STORE_URI", "")]
    if not backend[0].startswith("postgresql") or "@postgres:" not in backend[0]:
        problems.append(f"mlflow: backend store is not the Postgres service: {backend[0]!r}")
    if env.get("MLFLOW_S3_ENDPOINT_URL") != "http://minio:9000":
        problems.append("mlflow: MLFLOW_S3_ENDPOINT_URL does not point at the minio service")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if key not in env:
            problems.append(f"mlflow: {key} is not set")
    for key, value in MLFLOW_SERVER_ENV.items():  # the native topology the tests run is the compose one
        if str(env.get(key)).lower() != value:
            problems.append(f"mlflow: {key} is {env.get(key)!r}, the tests' MlflowServer runs with {value!r}")
    if "--serve-artifacts" in args and "AWS_SECRET_ACCESS_KEY" in environment(
        services(compose).get("airflow-worker-cpu", {})
    ):
        problems.append("workers hold S3 keys although artifacts go through the MLflow server")
    return problems


def url_user_and_database(url: str) -> tuple[str, str]:
    match = URL_USER_AND_DATABASE.match(url)
    return (match["user"], match["db"]) if match else ("", "")


def check_postgres_databases(compose: Compose) -> list[str]:
    """One Postgres with two databases, created by an init script, and each client using its own."""
    problems = []
    postgres = services(compose).get("postgres", {})
    init_scripts = [s for s, t in mounts(postgres) if t.startswith("/docker-entrypoint-initdb.d/")]
    if not init_scripts:
        problems.append("postgres: no script mounted into /docker-entrypoint-initdb.d/")
    pg_env = environment(postgres)
    airflow_url = environment(services(compose).get("airflow-scheduler", {})).get(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""
    )
    mlflow_url = environment(services(compose).get("mlflow", {})).get("MLFLOW_BACKEND_STORE_URI", "")
    for label, url, prefix in (("Airflow", airflow_url, "AIRFLOW"), ("MLflow", mlflow_url, "MLFLOW")):
        user, database = url_user_and_database(url)
        if database != pg_env.get(f"{prefix}_DB_NAME") or user != pg_env.get(f"{prefix}_DB_USER"):
            problems.append(
                f"{label} connects as {user!r} to {database!r}, but postgres creates "
                f"{pg_env.get(prefix + '_DB_USER')!r} / {pg_env.get(prefix + '_DB_NAME')!r}"
            )
    if url_user_and_database(airflow_url)[1] == url_user_and_database(mlflow_url)[1]:
        problems.append("Airflow and MLflow share one database")
    return problems


def check_profiles(compose: Compose) -> list[str]:
    problems = []
    for name, service in services(compose).items():
        expected = OPTIONAL_PROFILES.get(name)
        if service.get("profiles") != expected:
            problems.append(f"{name}: profiles {service.get('profiles')}, expected {expected}")
    return problems


def check_cpu_worker_scalable(compose: Compose) -> list[str]:
    service = services(compose).get("airflow-worker-cpu", {})
    return [
        f"airflow-worker-cpu: {key} prevents `--scale airflow-worker-cpu=N`"
        for key in ("container_name", "hostname", "ports")
        if service.get(key)
    ]


def check_bind_mount_sources(compose: Compose, root: Path = REPO) -> list[str]:
    problems = []
    for name, service in services(compose).items():
        for source, _ in mounts(service):
            if source.startswith(("./", "../")) and not (root / source).exists():
                problems.append(f"{name}: bind-mount source {source} does not exist")
    return problems


SECRETS_CHECK = "secrets-check"
# Services that start on their own (no other dependency); they must wait for the secrets check.
FIRST_SERVICES = ("postgres", "redis", "minio")
# Account names the secrets check refuses as placeholders too (they are not secret, so not long).
CHECKED_ACCOUNT_NAMES = {"MINIO_ROOT_USER"}
LOCAL_ONLY = "127.0.0.1"
STATE_VOLUME = "retrain-state"


def check_secrets_checked_first(compose: Compose) -> list[str]:
    """Fail closed: one job checks every secret the file interpolates, and the first services wait for it."""
    problems = []
    job = services(compose).get(SECRETS_CHECK)
    if not job:
        return [f"service {SECRETS_CHECK} is missing"]
    checked, env = set(command_args(job)), environment(job)
    wanted = {m["name"] for m in interpolations(compose) if is_secret_name(m["name"])} | CHECKED_ACCOUNT_NAMES
    for name in sorted(wanted - checked):
        problems.append(f"{SECRETS_CHECK}: does not check {name}")
    for name in sorted(checked):
        if not REQUIRED_REF.fullmatch(env.get(name, "")) or f"${{{name}:?" not in env.get(name, ""):
            problems.append(f"{SECRETS_CHECK}: checks {name} without receiving ${{{name}:?...}}")
    if "/deploy/check-secrets.sh" not in " ".join(str(a) for a in job.get("entrypoint") or []):
        problems.append(f"{SECRETS_CHECK}: does not run deploy/check-secrets.sh")
    for name in FIRST_SERVICES:
        condition = (depends_on(services(compose).get(name, {})) or {}).get(SECRETS_CHECK) or {}
        if not isinstance(condition, dict) or condition.get("condition") != "service_completed_successfully":
            problems.append(f"{name}: starts without waiting for {SECRETS_CHECK} to succeed")
    return problems


def published_ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host_ip, the entry) of every published port; host_ip is '' when it listens on all interfaces."""
    found = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            found.append((str(entry.get("host_ip", "")), str(entry)))
            continue
        # ${VAR:-default} holds ':' itself: read interpolations as single tokens
        parts = re.findall(r"\$\{[^}]*\}|[^:]+", str(entry))
        found.append((parts[0] if len(parts) == 3 else "", str(entry)))
    return found


def check_ports_bound_locally(compose: Compose) -> list[str]:
    """Every published port listens on 127.0.0.1 unless .env says otherwise."""
    problems = []
    for name, service in services(compose).items():
        for host_ip, entry in published_ports(service):
            match = INTERPOLATION.fullmatch(host_ip)
            default = match["arg"] if match and (match["op"] or "").lstrip(":") == "-" else host_ip
            if default != LOCAL_ONLY:
                problems.append(f"{name}: port {entry} is published on all interfaces by default")
    return problems


def check_mlflow_auth(compose: Compose, root: Path = REPO) -> list[str]:
    """MLflow's basic-auth app, its admin from .env, and the pipeline signing in with credentials."""
    problems = []
    service = services(compose).get("mlflow", {})
    args, env = command_args(service), environment(service)
    if option_values(args, "--app-name") != ["basic-auth"]:
        problems.append("mlflow: not started with --app-name basic-auth (anonymous calls would be accepted)")
    for key in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        if not REQUIRED_REF.fullmatch(env.get(key, "")):
            problems.append(f"mlflow: {key} is not a required reference")
    config = env.get("MLFLOW_AUTH_CONFIG_PATH", "")
    sources = {target: source for source, target in mounts(service)}
    if config not in sources or not (root / sources[config]).is_file():
        problems.append(f"mlflow: MLFLOW_AUTH_CONFIG_PATH={config!r} is not a mounted file of this repository")
    else:
        import configparser

        ini = configparser.ConfigParser()
        ini.read(root / sources[config])
        if ini.get("mlflow", "admin_password", fallback=None):
            problems.append("mlflow: basic_auth.ini holds an admin password")
        database = ini.get("mlflow", "database_uri", fallback="")
        folder = database.removeprefix("sqlite:///").rsplit("/", 1)[0]
        named = set((compose.get("volumes") or {}).keys())
        if database.startswith("sqlite") and not any(s in named and t == folder for s, t in mounts(service)):
            problems.append(f"mlflow: auth database {database!r} is not on a named volume")
    for name in airflow_services(compose):
        airflow_env = environment(services(compose)[name])
        if not airflow_env.get("MLFLOW_TRACKING_USERNAME"):
            problems.append(f"{name}: MLFLOW_TRACKING_USERNAME is not set")
        if not REQUIRED_REF.fullmatch(airflow_env.get("MLFLOW_TRACKING_PASSWORD", "")):
            problems.append(f"{name}: MLFLOW_TRACKING_PASSWORD is not a required reference")
    return problems


def check_state_on_volumes(compose: Compose) -> list[str]:
    """The Slack outbox and training checkpoints outlive a container: both under a named volume."""
    problems = []
    if STATE_VOLUME not in (compose.get("volumes") or {}):
        problems.append(f"named volume {STATE_VOLUME} is not declared")
    for name in airflow_services(compose):
        service = services(compose)[name]
        env, service_mounts = environment(service), mounts(service)
        state = env.get("RETRAIN_LOCAL_STATE", "")
        if not state or (STATE_VOLUME, state) not in service_mounts:
            problems.append(f"{name}: RETRAIN_LOCAL_STATE={state!r} is not the {STATE_VOLUME} volume")
            continue
        for key in ("RETRAIN_SLACK_OUTBOX", "RETRAIN_CHECKPOINT_DIR"):
            if not env.get(key, "").startswith(state.rstrip("/") + "/"):
                problems.append(f"{name}: {key}={env.get(key)!r} is not under {state}")
    return problems


def check_build_targets(compose: Compose, dockerfile_text: str) -> list[str]:
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile_text, re.IGNORECASE | re.MULTILINE))
    problems = []
    for name, service in services(compose).items():
        build = service.get("build")
        if isinstance(build, dict) and build.get("target") not in stages:
            problems.append(f"{name}: build target {build.get('target')!r} is not a stage of the Dockerfile")
        if build and not service.get("image"):
            problems.append(f"{name}: builds an image without naming it (image:)")
    return problems


def check_dockerfile(dockerfile_text: str, dockerignore_text: str) -> list[str]:
    problems = []
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile_text, re.MULTILINE)
    if not any(
        re.match(r"(python:\$\{PYTHON_VERSION\}|python:3\.11)-slim|apache/airflow:3\.3\.2-python3\.11", b)
        for b in bases
    ):
        problems.append(
            f"Dockerfile: base image is not python:3.11-slim or apache/airflow:3.3.2-python3.11: {bases}"
        )
    if "ARG PYTHON_VERSION=3.11" not in dockerfile_text and "python:3.11" not in dockerfile_text:
        problems.append("Dockerfile: Python is not 3.11")
    if not re.search(r"pip install[^\n]*-r requirements\.txt[^\n]*-c requirements\.lock", dockerfile_text):
        problems.append("Dockerfile: requirements.txt is not installed with -c requirements.lock")
    if not re.search(r"pip install[^\n&]*\s\.(\s|$)", dockerfile_text):
        problems.append("Dockerfile: the project itself is not pip-installed")
    if not re.search(r"^ENV\s[^\n]*\bAIRFLOW_HOME[= ]", dockerfile_text, re.MULTILINE):
        problems.append("Dockerfile: AIRFLOW_HOME is not set")
    ignored = {
        line.strip() for line in dockerignore_text.splitlines() if line.strip() and not line.startswith("#")
    }
    for needed in (".env", ".venv", ".git"):
        if needed not in ignored:
            problems.append(f".dockerignore: {needed} is not excluded from the build context")
    return problems


# --------------------------------------------------------------------------------------------------------
# Tests on the real files


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load_compose()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@pytest.fixture(scope="module")
def env_text() -> str:
    return ENV_EXAMPLE.read_text()


def test_schema_is_the_compose_specification(schema):
    assert schema["title"] == "Compose Specification"
    Draft7Validator.check_schema(schema)


def test_compose_file_matches_the_compose_specification(compose, schema):
    assert check_schema(compose, schema) == []


def test_all_services_present(compose):
    assert check_services_present(compose) == []


def test_gpu_worker_consumes_only_gpu_and_cpu_worker_only_default(compose):
    assert check_worker_queues(compose) == []


def test_gpu_worker_reserves_an_nvidia_gpu(compose):
    assert check_gpu_reservation(compose) == []


def test_airflow_services_mount_code_and_shared_data(compose):
    assert check_airflow_mounts(compose) == []


def test_airflow_services_share_celery_postgres_and_mlflow_settings(compose):
    assert check_airflow_environment(compose) == []


def test_every_long_running_service_has_a_healthcheck(compose):
    assert check_healthchecks(compose) == []


def test_every_dependency_waits_on_a_condition(compose):
    assert check_depends_on(compose) == []


def test_startup_order(compose):
    assert check_startup_order(compose) == []


def test_secret_environment_values_are_required_references(compose):
    assert check_secret_environment(compose) == []


def test_no_default_passwords_or_literal_credentials(compose):
    assert check_no_baked_secrets(compose) == []


def test_env_example_holds_placeholders_only(env_text):
    assert check_env_example_placeholders(env_text) == []


def test_env_example_lists_every_compose_variable(compose, env_text):
    assert check_env_example_covers_compose(compose, env_text) == []


def test_mlflow_uses_postgres_and_proxies_artifacts_to_minio(compose):
    assert check_mlflow(compose) == []


def test_one_postgres_holds_the_airflow_and_mlflow_databases(compose):
    assert check_postgres_databases(compose) == []


def test_only_flower_is_optional(compose):
    assert check_profiles(compose) == []


def test_cpu_worker_can_be_scaled(compose):
    assert check_cpu_worker_scalable(compose) == []


def test_bind_mounted_files_exist(compose):
    assert check_bind_mount_sources(compose) == []


def test_build_targets_are_dockerfile_stages(compose):
    assert check_build_targets(compose, DOCKERFILE.read_text()) == []


def test_every_secret_is_checked_before_anything_starts(compose):
    assert check_secrets_checked_first(compose) == []


def test_published_ports_listen_on_localhost_by_default(compose):
    assert check_ports_bound_locally(compose) == []


def test_mlflow_requires_authentication_and_the_pipeline_signs_in(compose):
    assert check_mlflow_auth(compose) == []


def test_slack_outbox_and_checkpoints_live_on_a_named_volume(compose):
    assert check_state_on_volumes(compose) == []


def test_dockerfile_installs_the_locked_requirements_and_the_project():
    assert check_dockerfile(DOCKERFILE.read_text(), DOCKERIGNORE.read_text()) == []


def test_env_example_is_git_ignored_as_env():
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_celery_executor_loads_with_the_locked_versions():
    """celery 5.7 broke the Celery provider's imports; requirements.lock pins 5.6.3."""
    import importlib

    importlib.import_module("airflow.providers.celery.executors.celery_executor_utils")


# --------------------------------------------------------------------------------------------------------
# Each rule fails on a broken copy


def _service(compose: Compose, name: str) -> dict[str, Any]:
    return compose["services"][name]


def _set_env(name: str, key: str, value: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        service = _service(compose, name)
        service["environment"] = {**environment(service), key: value}

    return mutate


def _set(name: str, key: str, value: Any) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        _service(compose, name)[key] = value

    return mutate


def _drop(name: str, key: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        _service(compose, name).pop(key, None)

    return mutate


def _drop_mount(name: str, target: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        service = _service(compose, name)
        service["volumes"] = [v for v in service["volumes"] if mounts({"volumes": [v]})[0][1] != target]

    return mutate


def _replace_arg(name: str, old: str, new: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        service = _service(compose, name)
        service["command"] = [new if arg == old else arg for arg in command_args(service)]

    return mutate


def _remove_dependency(name: str, target: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        service = _service(compose, name)
        service["depends_on"] = {k: v for k, v in depends_on(service).items() if k != target}

    return mutate


def _condition(name: str, target: str, condition: str) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        service = _service(compose, name)
        service["depends_on"] = {**depends_on(service), target: {"condition": condition}}

    return mutate


def _no_gpu(compose: Compose) -> None:
    _service(compose, "airflow-worker-gpu").pop("deploy")


def _gpu_on_cpu_worker(compose: Compose) -> None:
    _service(compose, "airflow-worker-cpu")["deploy"] = copy.deepcopy(
        _service(compose, "airflow-worker-gpu")["deploy"]
    )


COMPOSE_MUTATIONS: dict[str, tuple[Callable[[Compose], list[str]], Callable[[Compose], None]]] = {
    "schema: misspelt key": (
        lambda c: check_schema(c, json.loads(SCHEMA_FILE.read_text())),
        _set("redis", "helthcheck", {}),
    ),
    "schema: wrong type": (
        lambda c: check_schema(c, json.loads(SCHEMA_FILE.read_text())),
        _set("redis", "ports", "6379"),
    ),
    "services: flower removed": (check_services_present, lambda c: c["services"].pop("flower")),
    "queues: gpu worker also takes default": (
        check_worker_queues,
        _replace_arg("airflow-worker-gpu", "gpu", "gpu,default"),
    ),
    "queues: cpu worker takes gpu": (
        check_worker_queues,
        _replace_arg("airflow-worker-cpu", "default", "gpu"),
    ),
    "queues: no --queues": (
        check_worker_queues,
        _replace_arg("airflow-worker-cpu", "--queues", "--loglevel"),
    ),
    "gpu: no reservation": (check_gpu_reservation, _no_gpu),
    "gpu: on the cpu worker": (check_gpu_reservation, _gpu_on_cpu_worker),
    "mounts: no dags on scheduler": (
        check_airflow_mounts,
        _drop_mount("airflow-scheduler", "/opt/airflow/dags"),
    ),
    "mounts: no include on gpu worker": (
        check_airflow_mounts,
        _drop_mount("airflow-worker-gpu", "/opt/airflow/include"),
    ),
    "mounts: no data on flower": (check_airflow_mounts, _drop_mount("flower", "/opt/airflow/data")),
    "mounts: data root moved": (
        check_airflow_mounts,
        _set_env("airflow-worker-cpu", "RETRAIN_DATA_ROOT", "/data"),
    ),
    "env: LocalExecutor": (
        check_airflow_environment,
        _set_env("airflow-scheduler", "AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
    ),
    "env: examples loaded": (
        check_airflow_environment,
        _set_env("airflow-apiserver", "AIRFLOW__CORE__LOAD_EXAMPLES", "true"),
    ),
    "env: mlflow on a file store": (
        check_airflow_environment,
        _set_env("airflow-worker-gpu", "MLFLOW_TRACKING_URI", "file:///tmp"),
    ),
    "env: JWT secret differs": (
        check_airflow_environment,
        _set_env("airflow-worker-cpu", "AIRFLOW__API_AUTH__JWT_SECRET", "${OTHER:?x}"),
    ),
    "health: none on mlflow": (check_healthchecks, _drop("mlflow", "healthcheck")),
    "health: disabled on redis": (check_healthchecks, _set("redis", "healthcheck", {"disable": True})),
    "health: daemon marked one-shot": (check_healthchecks, _set("airflow-triggerer", "restart", "no")),
    "depends_on: list form": (check_depends_on, _set("mlflow", "depends_on", ["postgres"])),
    "depends_on: service_started": (
        check_depends_on,
        _condition("airflow-scheduler", "postgres", "service_started"),
    ),
    "depends_on: init awaited as healthy": (
        check_depends_on,
        _condition("airflow-scheduler", "airflow-init", "service_healthy"),
    ),
    "depends_on: on optional flower": (
        check_depends_on,
        _condition("airflow-scheduler", "flower", "service_healthy"),
    ),
    "order: worker ignores mlflow": (check_startup_order, _remove_dependency("airflow-worker-gpu", "mlflow")),
    "order: scheduler skips migration": (
        check_startup_order,
        _remove_dependency("airflow-scheduler", "airflow-init"),
    ),
    "secrets: literal password": (
        check_secret_environment,
        _set_env("postgres", "POSTGRES_PASSWORD", "hunter2"),
    ),
    "secrets: optional reference": (
        check_secret_environment,
        _set_env("minio", "MINIO_ROOT_PASSWORD", "${MINIO_ROOT_PASSWORD}"),
    ),
    "secrets: literal slack conn": (
        check_secret_environment,
        _set_env("airflow-scheduler", "AIRFLOW_CONN_SLACK_DEFAULT", "slack://:t@"),
    ),
    "baked: default password": (
        check_no_baked_secrets,
        _set_env("redis", "REDIS_PASSWORD", "${REDIS_PASSWORD:-redis}"),
    ),
    "baked: password in URL": (
        check_no_baked_secrets,
        _set_env("mlflow", "MLFLOW_BACKEND_STORE_URI", "postgresql://mlflow:mlflow@postgres:5432/mlflow"),
    ),
    "baked: default in command": (check_no_baked_secrets, _replace_arg("redis", "-c", "${REDIS_PASSWORD-x}")),
    "mlflow: no proxy": (check_mlflow, _replace_arg("mlflow", "--serve-artifacts", "--no-serve-artifacts")),
    "mlflow: local artifacts": (
        check_mlflow,
        _replace_arg("mlflow", "s3://${MLFLOW_ARTIFACT_BUCKET:-mlflow-artifacts}/", "/mlartifacts"),
    ),
    "mlflow: sqlite backend": (
        check_mlflow,
        _set_env("mlflow", "MLFLOW_BACKEND_STORE_URI", "sqlite:///mlflow.db"),
    ),
    "mlflow: no minio endpoint": (
        check_mlflow,
        _set_env("mlflow", "MLFLOW_S3_ENDPOINT_URL", "https://s3.amazonaws.com"),
    ),
    "postgres: no init script": (
        check_postgres_databases,
        _set("postgres", "volumes", ["postgres-data:/var/lib/postgresql/data"]),
    ),
    "postgres: mlflow in airflow db": (
        check_postgres_databases,
        _set_env(
            "mlflow",
            "MLFLOW_BACKEND_STORE_URI",
            "postgresql://${MLFLOW_DB_USER:-mlflow}:${P:?x}@postgres:5432/${AIRFLOW_DB_NAME:-airflow}",
        ),
    ),
    "profiles: flower always on": (check_profiles, _drop("flower", "profiles")),
    "profiles: gpu worker optional": (check_profiles, _set("airflow-worker-gpu", "profiles", ["gpu"])),
    "scale: container_name": (
        check_cpu_worker_scalable,
        _set("airflow-worker-cpu", "container_name", "worker"),
    ),
    "scale: fixed port": (check_cpu_worker_scalable, _set("airflow-worker-cpu", "ports", ["8793:8793"])),
    "bind mounts: missing script": (
        check_bind_mount_sources,
        _set("minio-init", "volumes", ["./deploy/minio/nope.sh:/x.sh:ro"]),
    ),
    "secrets: not checked first": (
        check_secrets_checked_first,
        _remove_dependency("postgres", SECRETS_CHECK),
    ),
    "secrets: a secret left unchecked": (
        check_secrets_checked_first,
        _replace_arg(SECRETS_CHECK, "REDIS_PASSWORD", "POSTGRES_USER"),
    ),
    "ports: mlflow on all interfaces": (check_ports_bound_locally, _set("mlflow", "ports", ["${MLFLOW_PORT:-5000}:5000"])),
    "ports: flower on 0.0.0.0": (
        check_ports_bound_locally,
        _set("flower", "ports", ["${PUBLIC_BIND_ADDRESS:-0.0.0.0}:5555:5555"]),
    ),
    "ports: long syntax without host_ip": (check_ports_bound_locally, _set("minio", "ports", [{"target": 9001}])),
    "auth: mlflow without basic-auth": (check_mlflow_auth, _replace_arg("mlflow", "basic-auth", "mlflow")),
    "auth: pipeline without credentials": (
        check_mlflow_auth,
        lambda c: _service(c, "airflow-worker-cpu").__setitem__(
            "environment",
            {k: v for k, v in environment(_service(c, "airflow-worker-cpu")).items() if k != "MLFLOW_TRACKING_PASSWORD"},
        ),
    ),
    "auth: store in the container layer": (check_mlflow_auth, _drop_mount("mlflow", "/home/mlflow/auth")),
    "state: outbox in the container layer": (
        check_state_on_volumes,
        _set_env("airflow-worker-cpu", "RETRAIN_SLACK_OUTBOX", "/tmp/outbox.jsonl"),
    ),
    "state: no state volume on the gpu worker": (
        check_state_on_volumes,
        _drop_mount("airflow-worker-gpu", "/opt/airflow/state"),
    ),
    "build: unknown target": (
        lambda c: check_build_targets(c, DOCKERFILE.read_text()),
        _set("mlflow", "build", {"context": ".", "target": "nope"}),
    ),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_MUTATIONS))
def test_check_catches_mutation(compose, case):
    check, mutate = COMPOSE_MUTATIONS[case]
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert check(broken), f"{case}: the check passed on a broken compose file"


ENV_MUTATIONS: dict[str, tuple[str, str]] = {
    "real-looking password": (
        "POSTGRES_PASSWORD=change-me",
        "POSTGRES_PASSWORD=9f86d081884c7d659a2feaa0c55ad015",
    ),
    "real-looking slack token": ('"password": "change-me"', '"password": "xoxb-1234567890-abcdefghij"'),
    "fernet key": ("AIRFLOW__CORE__FERNET_KEY=change-me", "AIRFLOW__CORE__FERNET_KEY=" + "A" * 43 + "="),
    "empty secret": ("REDIS_PASSWORD=change-me", "REDIS_PASSWORD="),
}


@pytest.mark.parametrize("case", sorted(ENV_MUTATIONS))
def test_env_example_check_catches_real_secrets(env_text, case):
    old, new = ENV_MUTATIONS[case]
    assert old in env_text
    assert check_env_example_placeholders(env_text.replace(old, new, 1))


@pytest.mark.parametrize(
    "change",
    [
        lambda text: text.replace("MLFLOW_WORKERS=4\n", ""),  # used in compose, not listed
        lambda text: text + "UNUSED_SETTING=1\n",  # listed, never used
        # disagrees with the compose default
        lambda text: text.replace("MLFLOW_WORKERS=4", "MLFLOW_WORKERS=8"),
    ],
    ids=["missing", "stale", "default-mismatch"],
)
def test_env_example_coverage_check_catches_drift(compose, env_text, change):
    assert check_env_example_covers_compose(compose, change(env_text))


@pytest.mark.parametrize(
    "old, new",
    [
        ("-c requirements.lock", ""),
        ("RUN pip install --no-deps . \\", "RUN true \\"),
        ("AIRFLOW_HOME=/opt/airflow", "HOME=/opt/airflow"),
        ("FROM python:${PYTHON_VERSION}-slim-bookworm AS base", "FROM python:3.12 AS base"),
    ],
)
def test_dockerfile_check_catches_mutation(old, new):
    text = DOCKERFILE.read_text()
    assert old in text
    assert check_dockerfile(text.replace(old, new), DOCKERIGNORE.read_text())


def test_dockerignore_check_catches_env_in_context():
    text = DOCKERIGNORE.read_text().replace("\n.env\n", "\n")
    assert check_dockerfile(DOCKERFILE.read_text(), text)
