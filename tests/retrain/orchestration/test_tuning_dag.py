"""The tuning DAG: its shape, routing and parsing, and one short tuning run end to end in `airflow dags test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from tests.support import warm_process
from tests.support.airflow_db import migrated_sqlite
from tests.support.mlflow_db import migrated_mlflow

ROOT = Path(__file__).resolve().parents[3]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DEMO_SPEC = ROOT / "include" / "specs" / "ecommerce_dwell_time.yaml"


def _tiny_spec(folder: Path, **changes) -> Path:
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["name"] = "tiny_dwell"
    spec["training"].update(epochs=2, device="cpu")
    spec["gate"] = {"heads": {"click": {"max_regression": {"roc_auc": 0.5}}}}
    spec["tuning"] = {"trials": 3, "timeout_minutes": 10, "metric": "dwell.rmse", "space": {
        "learning_rate": {"low": 0.001, "high": 0.01, "log": True},
        "batch_size": [256, 512], "hidden_units": [[16], [32, 16]], "dropout": {"low": 0.0, "high": 0.2}}}
    for key, value in changes.items():
        spec[key] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny_dwell.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_one_tuning_dag_per_spec_that_asks_with_the_daily_gate_downstream(tmp_path):
    from retrain.orchestration.tuning_dag import build_all_tuning

    assert set(build_all_tuning(ROOT / "include" / "specs")) == {"tune_ecommerce_dwell_time"}  # esmm has no tuning
    dag = build_all_tuning(_tiny_spec(tmp_path).parent)["tune_tiny_dwell"]
    assert dag.timetable.expression == "0 4 * * 0" and "tuning" in dag.tags and dag.max_active_runs == 1
    downstream = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert downstream["validate_data"] == ["train", "tune"]
    assert downstream["tune"] == ["train"]
    assert downstream["train"] == ["evaluate", "gate", "notify", "promote", "reject"]
    assert downstream["decide"] == ["promote", "reject"]
    assert dag.get_task("tune").queue != "gpu"


def test_a_gpu_spec_tunes_and_trains_on_the_gpu_queue(tmp_path):
    from retrain.orchestration.tuning_dag import build_all_tuning

    dag = build_all_tuning(_tiny_spec(tmp_path, resources={"gpu": "required"}).parent)["tune_tiny_dwell"]
    for task_id in ("tune", "train"):
        assert (dag.get_task(task_id).queue, dag.get_task(task_id).pool) == ("gpu", "gpu")
    assert dag.get_task("evaluate").queue != "gpu"


def test_parsing_the_tuning_dag_file_imports_no_heavy_library():
    code = ("import runpy, sys, json; runpy.run_path(sys.argv[1]);"
            "print(json.dumps([m for m in ['torch', 'mlflow', 'optuna', 'great_expectations'] if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "dags" / "retrain_tuning.py")],
                         capture_output=True, text=True, check=True, env=os.environ.copy())
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_a_short_tuning_run_end_to_end_in_airflow_dags_test(tmp_path):
    """3 trials of 2 epochs on tiny data; the best configuration trains a candidate that the gate promotes
    (no champion yet); from then on a daily run of the same spec trains with the champion's tuned values."""
    from mlflow import MlflowClient
    from retrain.config import load_spec
    from retrain.pipeline.hyperparameters import hyperparameters_for_training
    from retrain_demo.data import generate_demo_data

    spec_path = _tiny_spec(tmp_path / "specs")
    generate_demo_data(tmp_path / "data", date(2026, 3, 7), days=3, rows_per_day=1500)
    uri = migrated_mlflow(tmp_path / 'mlflow.db')
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "RETRAIN_SPECS_DIR": str(spec_path.parent),
           "RETRAIN_DATA_ROOT": str(tmp_path / "data"), "RETRAIN_LOCAL_STATE": str(tmp_path / "state"),
           "MLFLOW_TRACKING_URI": uri}
    env.pop("AIRFLOW_CONN_SLACK_DEFAULT", None)
    migrated_sqlite(tmp_path / "airflow")  # a copy of a migrated metadata database (db migrate: 10-20 s)
    run = warm_process.airflow("dags", "test", "tune_tiny_dwell", "2026-03-08T04:00:00+00:00", env=env, timeout=1200)
    output = run.stdout + run.stderr
    (tmp_path / "dags-test.log").write_text(output)
    assert run.returncode == 0, output[-4000:]
    assert "state=failed" not in output.lower().replace(" ", ""), output[-4000:]

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("tiny_dwell").experiment_id
    [parent] = client.search_runs([experiment], "tags.`retrain.run_kind` = 'tuning'")
    trials = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(trials) == 3 == parent.data.metrics["tuning.trials"]
    assert all(t.data.tags["retrain.run_kind"] == "trial" and t.data.metrics["cost_usd"] > 0 for t in trials)
    assert {t.data.tags["retrain.tuning.state"] for t in trials} <= {"complete", "pruned"}
    best = json.loads(parent.data.tags["retrain.tuning.best_params"])
    assert set(best) == {"learning_rate", "batch_size", "hidden_units", "dropout"}
    assert parent.data.metrics["tuning.best_value"] == min(
        t.data.metrics["value"] for t in trials if "value" in t.data.metrics)  # rmse: lower is better

    [trained] = client.search_runs([experiment], "tags.`retrain.run_kind` = 'train'")
    tags = trained.data.tags
    assert tags["retrain.hyperparameters_source"] == "tuned" and tags["retrain.tuning_run_id"] == parent.info.run_id
    assert trained.data.params["learning_rate"] == str(best["learning_rate"])
    assert trained.data.params["hidden_units"] == json.dumps(best["hidden_units"])
    assert tags["retrain.gate_decision"] == "promote" and trained.data.metrics["cost_usd"] > 0
    champion = client.get_model_version_by_alias("tiny_dwell", "champion")
    assert champion.run_id == trained.info.run_id
    card = champion.description
    assert "Hyperparameters were **tuned**" in card and "3 trials" in card and "cost $" in card.lower()

    daily, record = hyperparameters_for_training(client, load_spec(spec_path).spec)
    assert record["source"] == "tuned" and record["via_champion_version"] == str(champion.version)
    assert daily.training.learning_rate == best["learning_rate"] and daily.architecture.hidden_units == best[
        "hidden_units"]
