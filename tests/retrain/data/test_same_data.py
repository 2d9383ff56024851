"""Finding an earlier training on the same data and spec in a real MLflow store (SQLite)."""

from __future__ import annotations

import pytest
from retrain.config import load_spec
from retrain.pipeline.data_stages import find_run_on_same_data

from tests.retrain.orchestration.helpers import SPEC
from tests.support.mlflow_db import migrated_mlflow

FINGERPRINT = "f" * 64


@pytest.fixture
def store(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    uri = migrated_mlflow(tmp_path / 'mlflow.db')
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("ecommerce_esmm", artifact_location=(tmp_path / "a").as_uri())

    def run(fingerprint=FINGERPRINT, spec_sha=None, decision="promote"):
        tags = {"retrain.data_fingerprint": fingerprint, "retrain.spec_sha256": spec_sha or load_spec(SPEC).sha256,
                "airflow.run_id": "asset_triggered__1", "retrain.challenger_version": "4"}
        if decision:
            tags["retrain.gate_decision"] = decision
        created = client.create_run(experiment, tags=tags)
        client.set_terminated(created.info.run_id)
        return created.info.run_id

    return run


def test_a_gated_run_on_the_same_data_and_spec_is_found(store):
    run_id = store(decision="reject")
    found = find_run_on_same_data(load_spec(SPEC), {"fingerprint": FINGERPRINT})
    assert found == {"mlflow_run_id": run_id, "airflow_run_id": "asset_triggered__1", "gate_decision": "reject",
                     "version": "4"}


def test_other_data_a_changed_spec_or_an_unfinished_run_do_not_count(store):
    store(fingerprint="0" * 64)
    store(spec_sha="1" * 64)
    store(decision=None)  # stopped before the gate: retrain
    assert find_run_on_same_data(load_spec(SPEC), {"fingerprint": FINGERPRINT}) is None


def test_no_experiment_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(tmp_path / 'empty.db'))
    assert find_run_on_same_data(load_spec(SPEC), {"fingerprint": FINGERPRINT}) is None
