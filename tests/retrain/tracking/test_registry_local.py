"""Registry behaviour that needs a real (SQLite-backed) MLflow store: the artifacts of a version, checked against
the digests recorded at training. Registration and the rest of the registry's logic: test_registry.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retrain.tracking import registry
from retrain.tracking.lineage import file_sha256
from retrain.tracking.tags import ARTIFACT_SHA256

from tests.support.mlflow_db import migrated_mlflow


@pytest.fixture
def client(tmp_path, monkeypatch):
    import mlflow

    uri = migrated_mlflow(tmp_path / 'mlflow.db')
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _logged_model(client, tmp_path: Path) -> tuple[str, str, dict]:
    import mlflow

    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "weights.pt").write_bytes(b"\x00weights")
    (folder / "model_config.json").write_text("{}")
    checksums = {p.name: file_sha256(p) for p in folder.iterdir()}
    experiment = client.create_experiment("m", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifacts(str(folder), "model")
    return run.info.run_id, f"{run.info.artifact_uri}/model", checksums


def test_changed_artifacts_are_caught_before_promotion(client, tmp_path):
    run_id, uri, sums = _logged_model(client, tmp_path)
    version = registry.register_challenger(client, "m", run_id, uri, {ARTIFACT_SHA256: json.dumps(sums)})
    assert registry.verify_artifacts(client, "m", version) == sums
    stored = next((tmp_path / "artifacts").rglob("weights.pt"))
    stored.write_bytes(b"\x00tampered")
    with pytest.raises(registry.ArtifactIntegrityError, match="artifacts changed since training.*weights.pt"):
        registry.verify_artifacts(client, "m", version)


def test_version_without_checksums_is_refused(client, tmp_path):
    run_id, uri, _ = _logged_model(client, tmp_path)
    version = registry.register_challenger(client, "m", run_id, uri, {})
    with pytest.raises(registry.ArtifactIntegrityError, match="no recorded artifact sha256"):
        registry.verify_artifacts(client, "m", version)
