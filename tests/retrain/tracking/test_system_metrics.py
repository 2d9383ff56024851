"""MLflow's system metrics on a run through ``retrain.tracking.system_metrics`` (a SQLite MLflow store)."""

from __future__ import annotations

import time

import pytest
from retrain.tracking import system_metrics as sm

from tests.support.mlflow_db import migrated_mlflow


@pytest.fixture
def client(tmp_path, monkeypatch):
    import mlflow

    uri = migrated_mlflow(tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    client.create_experiment("sys", artifact_location=(tmp_path / "artifacts").as_uri())
    return client


def _run(client) -> str:
    return client.create_run(client.get_experiment_by_name("sys").experiment_id).info.run_id


def _steps(client, run_id: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, "system/cpu_utilization_percentage")]


def test_samples_land_on_the_run_and_a_resumed_run_continues_their_steps(client, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    run_id = _run(client)
    with sm.system_metrics(run_id):
        deadline = time.monotonic() + 30
        while len(_steps(client, run_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    first = _steps(client, run_id)
    assert sorted(first) == list(range(len(first))) and len(first) >= 2
    metrics = client.get_run(run_id).data.metrics
    assert {"system/system_memory_usage_megabytes", "system/disk_usage_percentage",
            "system/network_receive_megabytes"} <= set(metrics)
    with sm.system_metrics(run_id, resume=True):  # a retry resuming the run: steps go on, nothing overwritten
        deadline = time.monotonic() + 30
        while len(_steps(client, run_id)) == len(first) and time.monotonic() < deadline:
            time.sleep(0.05)
    steps = _steps(client, run_id)
    assert sorted(steps) == list(range(len(steps))) and len(steps) > len(first)


def test_the_sampler_stops_at_once_without_reading_the_run_back(client, monkeypatch):
    """MLflow's loop reads the run from the store before it looks at the stop signal; the block's end
    waited for that read (a new client and a query, a few ms per run)."""
    reads = []

    class Counting(sm.MlflowClient):
        def get_run(self, run_id):
            reads.append(run_id)
            return super().get_run(run_id)

    monkeypatch.setattr(sm, "MlflowClient", Counting)
    run_id = _run(client)
    started = time.monotonic()
    with sm.system_metrics(run_id):  # MLflow's default interval: 10 s
        time.sleep(0.05)
    assert time.monotonic() - started < 5
    assert reads == [] and _steps(client, run_id) == []  # a run shorter than the interval gets no sample


def test_a_monitor_that_cannot_start_does_not_fail_the_block(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no psutil")

    monkeypatch.setattr(sm, "Monitor", broken)
    with sm.system_metrics(_run(client)):
        ran = True
    assert ran
