"""The MLflow server as docker-compose.yaml runs it: MLflow's basic-auth app with deploy/mlflow/basic_auth.ini.

A real ``mlflow server --app-name basic-auth`` (SQLite stores, one worker). Anonymous or wrongly signed calls
cannot move ``champion`` or upload artifacts; the pipeline, signed in through MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD, promotes through its usual code path.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.mlflow_db import migrated_mlflow
from tests.support.services import MlflowServer

REPO = Path(__file__).resolve().parents[2]
SHIPPED_INI = REPO / "deploy" / "mlflow" / "basic_auth.ini"
ADMIN = "retrain-pipeline"
PASSWORD = secrets.token_hex(16)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-auth")
    # the shipped settings, with the user store moved from the container's volume to this test's folder
    ini = SHIPPED_INI.read_text().replace("sqlite:////home/mlflow/auth/basic_auth.db",
                                          f"sqlite:///{root / 'basic_auth.db'}")
    assert ini != SHIPPED_INI.read_text()
    (root / "basic_auth.ini").write_text(ini)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(root / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
        "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    srv = MlflowServer(migrated_mlflow(root / "mlflow.db"), root, workers=1, app_name="basic-auth", env=env)
    try:
        yield srv.start(timeout=600)  # first start migrates the user store; slow on a loaded machine
    finally:
        srv.stop()


@pytest.fixture
def pipeline_env(server, monkeypatch):
    """What docker-compose.yaml gives every Airflow service."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)


def _call(server, method: str, path: str, body: dict | bytes | None = None, auth: tuple[str, str] | None = None):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json" if isinstance(body, dict) else "application/octet-stream")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _two_versions_with_champion(name: str) -> tuple[object, list[str]]:
    from retrain.settings import get_settings
    from retrain.tracking.mlflow_store import champion_version, connect
    from retrain.tracking.registry import move_champion

    client = connect(get_settings())
    experiment = client.create_experiment(f"{name}-exp")
    run = client.create_run(experiment)
    client.create_registered_model(name)
    versions = [client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id).version
                for _ in range(2)]
    move_champion(client, name, str(versions[0]), expected_current=None, actor="test", reason="first")
    assert str(champion_version(client, name).version) == str(versions[0])
    return client, [str(v) for v in versions]


def test_anonymous_calls_cannot_move_champion_or_upload_artifacts(server, pipeline_env):
    from retrain.tracking.mlflow_store import champion_version

    client, (v1, v2) = _two_versions_with_champion("churn_anon")
    move = {"name": "churn_anon", "alias": "champion", "version": v2}
    assert _call(server, "POST", "/api/2.0/mlflow/registered-models/alias", move) == 401
    assert _call(server, "POST", "/api/2.0/mlflow/registered-models/alias", move, ("admin", "admin")) == 401
    assert _call(server, "POST", "/api/2.0/mlflow/registered-models/alias", move, (ADMIN, "wrong")) == 401
    assert _call(server, "DELETE", "/api/2.0/mlflow/registered-models/alias?name=churn_anon&alias=champion") == 401
    assert _call(server, "PUT", "/api/2.0/mlflow-artifacts/artifacts/0/evil/pyfunc_entry.py", b"import os") == 401
    assert _call(server, "GET", "/api/2.0/mlflow/registered-models/get?name=churn_anon") == 401
    assert str(champion_version(client, "churn_anon").version) == v1
    assert _call(server, "GET", "/health") == 200  # the compose healthcheck needs no credentials


def test_the_pipeline_signs_in_from_the_environment_and_promotes(server, pipeline_env):
    from retrain.tracking.mlflow_store import champion_version
    from retrain.tracking.registry import history, move_champion

    client, (v1, v2) = _two_versions_with_champion("churn_signed")
    move_champion(client, "churn_signed", v2, expected_current=v1, actor="airflow:test", reason="better")
    assert str(champion_version(client, "churn_signed").version) == v2
    assert [(m.from_version, m.to_version) for m in history(client, "churn_signed")][-1] == (v1, v2)


def test_without_credentials_the_pipeline_client_is_refused(server, monkeypatch):
    from mlflow.exceptions import MlflowException
    from retrain.settings import get_settings
    from retrain.tracking.mlflow_store import connect

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(MlflowException, match="401|Unauthorized|credentials"):
        connect(get_settings()).create_registered_model("churn_nobody")
