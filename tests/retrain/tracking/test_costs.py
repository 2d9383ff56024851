"""Cost accounting and budgets on real training runs (the demo tabular spec, tiny data, a SQLite MLflow store)."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from retrain.config import load_spec
from retrain.contracts import RunInfo
from retrain.errors import DeterministicFailure, OverBudgetError
from retrain.training.usage import PriceTable, QueuePrice, Usage

from tests.support.mlflow_db import migrated_mlflow

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"
END = date(2026, 3, 7)
AS_OF = datetime(2026, 3, 8, tzinfo=UTC)
PRICES = '{"default": {"cpu_hour": 3.6}, "gpu": {"cpu_hour": 3.6, "gpu_hour": 36}}'  # $0.001 per CPU-second


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from retrain_demo.data import generate_demo_data

    root = tmp_path_factory.mktemp("costs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETRAIN_DATA_ROOT", str(root / "data"))
        mp.setenv("RETRAIN_LOCAL_STATE", str(root / "state"))
        mp.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(root / 'mlflow.db'))
        mp.setenv("RETRAIN_PRICES", PRICES)
        generate_demo_data(root / "data", END, days=2, rows_per_day=1200)
        yield root


def _loaded(**resources):
    loaded = load_spec(SPEC)
    spec = loaded.spec
    spec = spec.model_copy(update={
        "training": spec.training.model_copy(update={"epochs": 2, "device": "cpu"}),
        "resources": spec.resources.model_copy(update=resources),
    })
    return dataclasses.replace(loaded, spec=spec)


def _train(loaded, airflow_run_id):
    from retrain.pipeline import training_stage
    from retrain.pipeline.data_stages import check_freshness

    snapshot = check_freshness(loaded, AS_OF)
    run = RunInfo(dag_id=loaded.spec.dag_id, run_id=airflow_run_id, try_number=1, as_of=AS_OF)
    return training_stage.train_candidate(loaded, snapshot, run), snapshot


def test_a_real_run_records_plausible_usage_and_its_cost(env):
    import mlflow
    from retrain.data.freshness import DataSnapshot
    from retrain.pipeline.training_stage import load_split

    loaded = _loaded()
    trained, snapshot = _train(loaded, "scheduled__accounting")
    run = mlflow.MlflowClient().get_run(trained["run_id"])
    m = run.data.metrics
    train_rows = load_split(loaded.spec, DataSnapshot.from_dict(snapshot))[0].num_rows
    assert m["resources.rows"] == train_rows > 0
    assert m["resources.epochs"] == 2
    assert m["resources.wall_seconds"] > 0
    # CPU seconds are real and bounded by what the cores could have done in that wall time
    assert 0 < m["resources.cpu_seconds"] <= m["resources.wall_seconds"] * (os.cpu_count() or 1) * 1.1
    assert 50 < m["resources.peak_memory_mb"] < 64_000  # a torch process, not a byte count mistaken for MiB
    assert m["resources.gpu_seconds"] == 0 and m["resources.gpu_hours"] == 0  # a CPU worker
    assert m["cost_usd"] == pytest.approx(m["resources.cpu_seconds"] * 0.001)
    assert trained["cost_usd"] == pytest.approx(m["cost_usd"])
    assert run.data.tags["retrain.run_kind"] == "train"
    assert run.data.tags["retrain.worker_queue"] == "default"
    assert run.data.tags["retrain.hyperparameters_source"] == "spec"
    usage = mlflow.artifacts.load_dict(f"runs:/{trained['run_id']}/costs/usage.json")
    assert usage["prices"] == {"cpu_hour": 3.6, "gpu_hour": 0.0} and usage["epochs"] == 2


@pytest.mark.parametrize("budget", [{"max_minutes": 0.0001}, {"max_cost_usd": 1e-9}])
def test_a_tiny_budget_stops_training_cleanly_at_an_epoch_boundary(env, budget):
    import mlflow
    import torch
    from retrain.alerts.data_messages import build_failure_message
    from retrain.alerts.messages import FailureReport, format_error, is_deterministic

    loaded = _loaded(**budget)
    with pytest.raises(OverBudgetError, match="over budget") as caught:
        _train(loaded, f"scheduled__budget_{next(iter(budget))}")
    error = caught.value
    assert isinstance(error, DeterministicFailure) and is_deterministic(error)  # failed at once, not retried
    assert next(iter(budget)) in str(error) and "checkpoint" in str(error)
    run = mlflow.MlflowClient().get_run(error.run_id)
    assert run.info.status == "FAILED"
    assert "over budget" in run.data.tags["retrain.over_budget"]
    assert run.data.tags["retrain.worker_queue"] == "default"  # set when the run started, before the stop
    assert "retrain.model_uri" not in run.data.tags  # no candidate: nothing goes on to the gate
    assert run.data.metrics["resources.epochs"] == 1 == error.epochs_done  # stopped after the first epoch
    assert run.data.metrics["cost_usd"] > 0
    checkpoint = mlflow.artifacts.download_artifacts(f"runs:/{error.run_id}/checkpoint/last.pt")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    # what Slack is told: the failure alert names the budget and says it was not retried
    report = FailureReport(dag_id=loaded.spec.dag_id, task_id="train", run_id="scheduled__budget", try_number=1,
                           error=format_error(error), model_name=loaded.spec.name, deterministic=is_deterministic(error))
    text = build_failure_message(report, error).text
    assert "OverBudgetError: over budget" in text and "not retried" in text and next(iter(budget)) in text


def test_each_tuning_trial_records_its_usage_cost_and_queue(env):
    import mlflow
    from retrain.config import TuningSpec
    from retrain.pipeline import tuning_stage
    from retrain.pipeline.data_stages import check_freshness

    loaded = _loaded()
    tuning = TuningSpec(trials=2, metric="dwell.rmse", space={"batch_size": [256, 512]})
    loaded = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"tuning": tuning}))
    run = RunInfo(dag_id="tune_" + loaded.spec.name, run_id="scheduled__tuning_costs", try_number=1, as_of=AS_OF)
    result = tuning_stage.tune(loaded, check_freshness(loaded, AS_OF), run)
    client = mlflow.MlflowClient()
    parent = client.get_run(result["tuning_run_id"])
    trials = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(trials) == 2
    for trial in trials:
        assert trial.data.tags["retrain.run_kind"] == "trial" and trial.data.tags["retrain.worker_queue"] == "default"
        assert trial.data.metrics["resources.epochs"] >= 1 and trial.data.metrics["cost_usd"] > 0
        usage = mlflow.artifacts.load_dict(f"runs:/{trial.info.run_id}/costs/usage.json")
        assert usage["cost_usd"] == pytest.approx(trial.data.metrics["cost_usd"])
    assert result["cost_usd"] == pytest.approx(sum(t.data.metrics["cost_usd"] for t in trials))
    assert "cost_usd" not in parent.data.metrics  # the parent records none: nothing counts twice


def test_prices_come_from_the_settings_per_queue():
    prices = PriceTable.parse(PRICES)
    cpu = Usage(wall_seconds=10, cpu_seconds=7200, peak_memory_mb=1, rows=1, epochs=1)
    gpu = dataclasses.replace(cpu, queue="gpu", gpus=1, gpu_seconds=3600)
    assert cpu.cost_usd(prices) == pytest.approx(7.2)
    assert gpu.cost_usd(prices) == pytest.approx(7.2 + 36)
    assert prices.for_queue("unknown") == QueuePrice(cpu_hour=3.6)  # unknown queues are priced as default
    assert PriceTable.parse("").for_queue("gpu").gpu_hour > 0  # the embedded defaults
    with pytest.raises(ValueError, match="gpu_hours"):
        PriceTable.parse(json.dumps({"gpu": {"gpu_hours": 1}}))
