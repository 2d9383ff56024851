"""deploy/check-secrets.sh, run as the secrets-check service runs it: bash, the secrets in the environment.

Fail closed: copying .env.example to .env must not start a stack with "change-me" secrets.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.deploy.test_compose import COMPOSE_FILE, ENV_EXAMPLE, command_args, load_compose, parse_env_file

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "check-secrets.sh"


def _checked_names() -> list[str]:
    return command_args(load_compose(COMPOSE_FILE)["services"]["secrets-check"])


def _run(values: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], **values}
    return subprocess.run(["bash", str(SCRIPT), *_checked_names()], env=env, capture_output=True, text=True,
                          timeout=60)


def _good() -> dict[str, str]:
    values = {name: secrets.token_hex(32) for name in _checked_names()}
    values["AIRFLOW_CONN_SLACK_DEFAULT"] = '{"conn_type": "slack", "password": "xoxb-' + secrets.token_hex(20) + '"}'
    values["MINIO_ROOT_USER"] = "retrain-minio"
    return values


def test_good_secrets_pass():
    result = _run(_good())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_env_example_copied_to_env_is_refused_naming_every_secret():
    listed = parse_env_file(ENV_EXAMPLE.read_text())
    result = _run({name: listed[name] for name in _checked_names()})
    assert result.returncode == 1
    for name in _checked_names():
        assert f"secrets-check: {name} still holds a placeholder" in result.stderr, name
    assert "refusing to start" in result.stderr


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("REDIS_PASSWORD", "", "is empty or unset"),
        ("REDIS_PASSWORD", None, "is empty or unset"),
        ("POSTGRES_PASSWORD", "change-me", "still holds a placeholder"),
        ("POSTGRES_PASSWORD", "CHANGE-ME-please-0123456789", "still holds a placeholder"),
        ("MLFLOW_ADMIN_PASSWORD", "password", "still holds a placeholder"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "hunter2", "is 7 characters long; use at least 16"),
        ("AIRFLOW_CONN_SLACK_DEFAULT", '{"conn_type": "slack", "password": "change-me"}', "still holds a placeholder"),
        ("MINIO_ROOT_USER", "change-me", "still holds a placeholder"),
    ],
)
def test_one_bad_secret_stops_the_stack_and_is_named_without_its_value(name, value, says):
    values = _good()
    if value is None:
        del values[name]
    else:
        values[name] = value
    result = _run(values)
    assert result.returncode == 1
    assert f"secrets-check: {name} {says}" in result.stderr
    assert "1 secret(s)" in result.stderr
    if value:
        assert value not in result.stdout + result.stderr  # the value itself is never printed


def test_an_account_name_need_not_be_long():
    values = _good()
    values["MINIO_ROOT_USER"] = "ml"
    assert _run(values).returncode == 0
