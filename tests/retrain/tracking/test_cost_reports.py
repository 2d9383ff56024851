"""`retrain costs` and `retrain leaderboard` on an MLflow store (SQLite) holding several models, and the
record of what a skipped or stopped run avoided."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from retrain.cli import main
from retrain.errors import DataContractError, StaleDataError

from tests.support.mlflow_db import migrated_mlflow

DAY1, DAY2 = datetime(2026, 3, 1, 3, tzinfo=UTC), datetime(2026, 3, 2, 3, tzinfo=UTC)


@pytest.fixture
def store(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    uri = migrated_mlflow(tmp_path / 'mlflow.db')
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = {}

    def run(model, when, *, cost=None, decision=None, kind="train", gpu_hours=0.0, metrics=None, partitions="",
            avoided=None):
        if model not in experiments:
            experiments[model] = client.create_experiment(model, artifact_location=(tmp_path / model).as_uri())
        tags = {"retrain.model": model, "retrain.run_kind": kind, "retrain.data_partitions": partitions}
        if decision:
            tags["retrain.gate_decision"] = decision
        created = client.create_run(experiments[model], start_time=int(when.timestamp() * 1000), tags=tags)
        values = {**(metrics or {})}
        if cost is not None:
            values.update({"cost_usd": cost, "resources.gpu_hours": gpu_hours})
        if avoided is not None:
            values["cost_avoided_usd"] = avoided
        for key, value in values.items():
            client.log_metric(created.info.run_id, key, value)
        client.set_terminated(created.info.run_id)
        return created.info.run_id

    return SimpleNamespace(run=run, client=client)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_costs_per_model_and_day_with_the_share_the_gate_rejected(store, capsys):
    store.run("ecommerce_esmm", DAY1, cost=0.30, decision="promote")
    store.run("ecommerce_esmm", DAY1, cost=0.10, decision="reject")
    store.run("ecommerce_esmm", DAY2, cost=1.00, decision="reject", gpu_hours=0.5)
    store.run("ecommerce_esmm", DAY2, kind="avoided", avoided=0.40)
    store.run("ecommerce_esmm", DAY2, kind="tuning")  # a study's parent run: its trials carry the cost
    store.run("ecommerce_esmm", DAY2, cost=0.05, kind="trial")
    store.run("ecommerce_dwell_time", DAY1, cost=0.02, decision="promote")

    rows = {(r["model"], r["day"]): r for r in _json(capsys, ["costs", "--json"])}
    assert set(rows) == {("ecommerce_dwell_time", "2026-03-01"), ("ecommerce_esmm", "2026-03-01"),
                         ("ecommerce_esmm", "2026-03-02")}
    day1, day2 = rows["ecommerce_esmm", "2026-03-01"], rows["ecommerce_esmm", "2026-03-02"]
    assert day1["runs"] == 2 and day1["cost_usd"] == pytest.approx(0.40)
    assert day1["rejected_share"] == pytest.approx(0.25)
    assert day2["runs"] == 2 and day2["cost_usd"] == pytest.approx(1.05) and day2["gpu_hours"] == pytest.approx(0.5)
    assert day2["tuning_usd"] == pytest.approx(0.05) and day2["rejected_usd"] == pytest.approx(1.00)
    assert day2["avoided_runs"] == 1 and day2["avoided_usd"] == pytest.approx(0.40)
    assert rows["ecommerce_dwell_time", "2026-03-01"]["cost_usd"] == pytest.approx(0.02)

    only = _json(capsys, ["costs", "--json", "--model", "ecommerce_dwell_time"])
    assert [r["model"] for r in only] == ["ecommerce_dwell_time"]
    since = _json(capsys, ["costs", "--json", "--since", "2026-03-02"])
    assert [(r["model"], r["day"]) for r in since] == [("ecommerce_esmm", "2026-03-02")]

    assert main(["costs"]) == 0
    table = capsys.readouterr().out
    assert "ecommerce_esmm" in table and "total" in table and "rejected" in table
    total = next(line for line in table.splitlines() if line.startswith("ecommerce_esmm") and "total" in line)
    assert "1.4500" in total and "76%" in total  # (0.10 + 1.00) of 1.45 spent on rejected candidates

    assert main(["costs", "--model", "no_such_model"]) == 2
    assert "no MLflow experiment named 'no_such_model'" in capsys.readouterr().err


def test_leaderboard_ranks_by_the_gates_metric_and_logs_a_plot(store, capsys):
    import mlflow

    worse = store.run("ecommerce_esmm", DAY1, cost=0.2, decision="reject", metrics={"atc.roc_auc": 0.61},
                      partitions="dt=2026-02-22,dt=2026-02-28")
    best = store.run("ecommerce_esmm", DAY2, cost=0.9, decision="promote", metrics={"atc.roc_auc": 0.74},
                     partitions="dt=2026-02-23,dt=2026-03-01")
    store.run("ecommerce_esmm", DAY2, cost=0.3, metrics={"atc.roc_auc": 0.99})  # never gated: not ranked
    store.run("ecommerce_dwell_time", DAY1, cost=0.1, decision="promote", metrics={"click.roc_auc": 0.9})

    rows = _json(capsys, ["leaderboard", "ecommerce_esmm", "--json"])  # the spec's gate compares atc.roc_auc
    assert [r["run_id"] for r in rows] == [best, worse]
    assert rows[0] == {"run_id": best, "value": 0.74, "cost_usd": 0.9, "window": "dt=2026-02-23..dt=2026-03-01",
                       "decision": "promote", "version": None, "hyperparameters": "spec"}
    report = store.client.search_runs([store.client.get_experiment_by_name("ecommerce_esmm").experiment_id],
                                      filter_string="tags.`retrain.report` = 'leaderboard'")
    assert len(report) == 1
    png = mlflow.artifacts.download_artifacts(f"runs:/{report[0].info.run_id}/leaderboard/metric_vs_cost.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # rmse: lower is better, so the ranking turns round
    store.run("ecommerce_dwell_time", DAY1, cost=0.1, decision="promote", metrics={"dwell.rmse": 3.0})
    store.run("ecommerce_dwell_time", DAY2, cost=0.1, decision="reject", metrics={"dwell.rmse": 2.0})
    ranked = _json(capsys, ["leaderboard", "ecommerce_dwell_time", "--metric", "dwell.rmse", "--json", "--no-plot"])
    assert [r["value"] for r in ranked] == [2.0, 3.0]


def test_a_stale_or_broken_contract_run_records_the_training_it_avoided(store):
    from retrain.tracking.costs import record_avoided_from_failure

    store.run("ecommerce_esmm", DAY1, cost=0.2, decision="promote")
    store.run("ecommerce_esmm", DAY1, cost=0.4, decision="reject")
    ti = SimpleNamespace(dag_id="retrain_ecommerce_esmm")
    for error, run_id in ((DataContractError("column price: 12 nulls"), "scheduled__a"),
                          (StaleDataError("newest partition is 3 days old"), "scheduled__b"),
                          (StaleDataError("still stale"), "scheduled__b"),  # once per Airflow run and reason
                          (RuntimeError("not a data check"), "scheduled__c")):
        record_avoided_from_failure({"exception": error, "params": {"model_name": "ecommerce_esmm"}, "ti": ti,
                                     "run_id": run_id})
    experiment = store.client.get_experiment_by_name("ecommerce_esmm").experiment_id
    avoided = store.client.search_runs([experiment], filter_string="tags.`retrain.run_kind` = 'avoided'")
    assert sorted(r.data.tags["retrain.avoided_reason"] for r in avoided) == ["data_contract", "stale_data"]
    assert all(r.data.metrics["cost_avoided_usd"] == pytest.approx(0.3) for r in avoided)  # median of 0.2, 0.4
    # the records never carry airflow.* tags, so a later try of the train task cannot adopt one as its run
    assert all("airflow.run_id" not in r.data.tags for r in avoided)
