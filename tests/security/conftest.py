"""A real local MLflow store (SQLite), tiny demo data and a one-epoch spec, for the hardening tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.support.mlflow_db import migrated_mlflow
from tests.support.slack_standin import SlackStandIn, slack_connection_json

SPEC = Path(__file__).resolve().parents[2] / "include" / "specs" / "ecommerce_dwell_time.yaml"
END = date(2026, 3, 7)
AS_OF = datetime(2026, 3, 8, tzinfo=UTC)


@dataclasses.dataclass
class Pipeline:
    """The model stages as the DAG calls them, in-process, against this test's store."""

    loaded: object
    snapshot: dict
    tmp: Path

    @property
    def name(self) -> str:
        return self.loaded.spec.registered_model_name

    def client(self):
        from retrain.settings import get_settings
        from retrain.tracking import mlflow_store

        return mlflow_store.connect(get_settings())

    def train(self, airflow_run_id: str) -> dict:
        from retrain.contracts import RunInfo
        from retrain.pipeline.training_stage import train_candidate

        run = RunInfo(dag_id=self.loaded.spec.dag_id, run_id=airflow_run_id, try_number=1, as_of=AS_OF)
        return train_candidate(self.loaded, self.snapshot, run)

    def evaluate(self, trained: dict) -> dict:
        from retrain.pipeline.gating_stage import evaluate

        return evaluate(self.loaded, self.snapshot, trained)

    def gate(self, evaluation: dict, trained: dict) -> dict:
        from retrain.pipeline.gating_stage import gate

        return gate(self.loaded, evaluation, trained)

    def promote(self, trained: dict, evaluation: dict, decision: dict) -> dict:
        from retrain.pipeline.gating_stage import promote

        return promote(self.loaded, trained, evaluation, decision, actor="test")

    def run(self, airflow_run_id: str) -> tuple[dict, dict, dict]:
        """train -> evaluate -> gate; returns (trained, evaluation, decision)."""
        trained = self.train(airflow_run_id)
        evaluation = self.evaluate(trained)
        return trained, evaluation, self.gate(evaluation, trained)

    def version_folder(self, version: str) -> Path:
        """Where the artifact store keeps a registered version's files (the local artifact root)."""
        import mlflow

        source = self.client().get_model_version(self.name, version).source
        model_id = source.removeprefix("models:/")
        uri = mlflow.get_logged_model(model_id).artifact_location if source.startswith("models:/m-") else source
        return Path(uri.removeprefix("file://"))


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[Path]:
    """Each test gets its own MLflow store, data root, checkpoints and Slack outbox."""
    import mlflow

    state = tmp_path / "state"
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(state))
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("RETRAIN_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("RETRAIN_SLACK_OUTBOX", str(tmp_path / "outbox.jsonl"))
    uri = migrated_mlflow(state / "mlflow" / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield tmp_path


@pytest.fixture
def pipeline(store) -> Pipeline:
    from retrain.config import MetricBound, load_spec
    from retrain.pipeline.data_stages import check_freshness
    from retrain_demo.data import generate_demo_data

    generate_demo_data(store / "data", END, days=2, rows_per_day=1200)
    loaded = load_spec(SPEC)
    spec = loaded.spec
    # one epoch; the dwell head's r2 bound loosened so that a one-epoch candidate passes the gate
    dwell = spec.gate.heads["dwell"]
    loose = {**dwell.thresholds, "r2": MetricBound(min=-1.0)}
    gate = spec.gate.model_copy(update={"heads": {**spec.gate.heads, "dwell": dwell.model_copy(update={"thresholds": loose})}})
    spec = spec.model_copy(update={"gate": gate,
                                   "training": spec.training.model_copy(update={"epochs": 1, "device": "cpu"})})
    loaded = dataclasses.replace(loaded, spec=spec)
    return Pipeline(loaded=loaded, snapshot=check_freshness(loaded, AS_OF), tmp=store)


@pytest.fixture
def slack(monkeypatch) -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        monkeypatch.delenv("RETRAIN_SLACK_CONN_ID", raising=False)
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_DEFAULT", slack_connection_json(standin.base_url))
        yield standin
