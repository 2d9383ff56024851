"""`retrain run` as a new user tries it, in one embedded environment (SQLite Airflow and MLflow) for the module:

* a spec shaped like the README's "Add a model" example (no `schedule.start_date`), run once for a date years
  in the past, trains and gates, and says what it did (it used to finish `success` with zero tasks run: a
  hidden default start date of 2026-01-01);
* a segment model's DAG honours the trigger form's values (as of, promote=never, an epochs override);
* Ctrl-C or SIGTERM in the middle of training leaves no DAG run or task `running` and no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from retrain_demo.data import generate_demo_data

from tests.support import warm_process
from tests.support.mlflow_db import migrated_mlflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

README_LIKE_SPEC = {  # the README example's shape, on the demo data's columns; no start_date, no wait
    "name": "churn_like",
    "owner": "crm-ml",
    "schedule": {"cron": "0 4 * * *", "timezone": "Europe/Berlin"},
    "data": {"location": "crm/impressions", "training_window_days": 3,
             "freshness": {"max_age_hours": 36, "min_rows": 500}},
    "features": {"numeric": ["price", "discount_pct"], "categorical": ["device", "country"]},
    "heads": [{"name": "atc", "label": "add_to_cart", "kind": "binary"}],
    "architecture": {"type": "tabular_mlp", "hidden_units": [8]},
    "training": {"epochs": 1, "batch_size": 512},
    "validation": {"suite": "expectations/ecommerce_impressions.yaml"},
}
SEGMENT_SPEC = {**README_LIKE_SPEC, "name": "churn_by_country",
                "segments": {"column": "country", "values": ["DE", "US"], "max_per_task": 2}}
UNFINISHED = ("running", "queued", "scheduled", "deferred", "up_for_retry", "up_for_reschedule", "restarting")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("run-once")
    specs = root / "specs"
    specs.mkdir()
    for spec in (README_LIKE_SPEC, SEGMENT_SPEC):
        (specs / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    generate_demo_data(root / "data", date(2013, 6, 10), days=3, rows_per_day=1200, dataset="crm/impressions")
    env = {
        **os.environ,
        "RETRAIN_SPECS_DIR": str(specs),
        "RETRAIN_DATA_ROOT": str(root / "data"),
        "RETRAIN_LOCAL_STATE": str(root / "state"),
        "AIRFLOW_HOME": str(root / "airflow"),
        "MLFLOW_TRACKING_URI": migrated_mlflow(root / "mlflow.db"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    return root, env


def _retrain_run(env: dict, *args: str) -> tuple[int, str]:
    """``retrain run`` in a warm process (tests/support/warm_process.py); the interrupt tests below start it
    fresh, as from a terminal."""
    done = warm_process.run([Path(sys.executable).parent / "retrain", "run", *args], env=env, timeout=900)
    return done.returncode, done.stdout + done.stderr


def _client(env: dict):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"], registry_uri=env["MLFLOW_TRACKING_URI"])


def test_a_spec_without_start_date_runs_for_2013(home):
    _, env = home
    code, out = _retrain_run(env, "churn_like", "--as-of", "2013-06-10")
    assert code == 0, out[-4000:]
    assert '"as_of": "2013-06-10"' in out and '"wait_minutes": 0.0' in out  # a past date does not wait
    assert "Gate decision: promote" in out and "Champion:      churn_like version 1" in out, out[-3000:]
    assert "train=success" in out and "check_freshness=success" in out

    client = _client(env)
    [run] = client.search_runs([client.get_experiment_by_name("churn_like").experiment_id])
    assert run.data.tags["retrain.as_of"].startswith("2013-06-11T00:00")  # the end of the asked-for day
    assert run.data.params["partitions"] == "3"


def test_a_segment_run_honours_the_trigger_form(home):
    _, env = home
    code, out = _retrain_run(env, "churn_by_country", "--as-of", "2013-06-10", "--promote", "never",
                             "--epochs", "2")
    assert code == 0, out[-4000:]
    assert "train_chunk=success" in out and "Segments:      2 trained" in out and "2 held (promote=never)" in out
    assert "announce_champions=skipped" in out  # nothing moved: no champion Asset event for the scoring DAG

    client = _client(env)
    runs = client.search_runs([client.get_experiment_by_name("churn_by_country__segments").experiment_id])
    assert sorted(r.data.tags["retrain.segment"] for r in runs) == ["DE", "US"]
    for run in runs:
        assert run.data.tags["retrain.as_of"].startswith("2013-06-11T00:00")  # as_of, not the wall clock
        assert run.data.params["epochs"] == "2" and run.data.tags["retrain.overrides"] == '{"epochs": 2}'
        assert run.data.tags["retrain.gate_decision"] == "promote"  # the gate passed it ...
        name = run.data.tags["retrain.registered_model"]
        assert "champion" not in client.get_registered_model(name).aliases  # ... and promote=never held it
        [version] = client.search_model_versions(f"name = '{name}'")
        assert version.tags["retrain.promotion"].startswith("held: the run was triggered with promote=never")

    # the same day with promote=auto: both segments promote, and one event on the spec's champion Asset wakes
    # its scoring DAG (a segment champion used to move without one)
    code, out = _retrain_run(env, "churn_by_country", "--as-of", "2013-06-10", "--epochs", "1")
    assert code == 0 and "announce_champions=success" in out, out[-4000:]
    with contextlib.closing(sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")) as db:
        events = [json.loads(extra) for uri, extra in db.execute(
            "select a.uri, e.extra from asset_event e join asset a on a.id = e.asset_id") if "churn_by_country" in uri]
    assert [(e["model"], e["promoted"], sorted(e["segments"])) for e in events] == [("churn_by_country", 2, ["DE", "US"])]


def test_a_segment_run_whose_data_is_stale_ends_failed_not_green(home):
    """The segment DAG's only leaf, report, runs whatever happened before it (all_done): it used to succeed with
    nothing planned, and the run ended green having trained nothing."""
    _, env = home
    code, out = _retrain_run(env, "churn_by_country", "--as-of", "2013-08-30")  # no data in that window
    assert code == 1, out[-4000:]
    assert "check_freshness=failed" in out and "report=failed" in out and "Why: StaleDataError" in out
    runs, tasks = _states(Path(env["AIRFLOW_HOME"]), "retrain_churn_by_country")
    assert runs[-1] == "failed" and tasks["report"] == "failed"


def _states(airflow_home: Path, dag_id: str) -> tuple[list[str], dict[str, str]]:
    """Every run's state (oldest first) and the newest run's task states, from the metadata DB (none while the
    database is not there or not migrated yet: the test may be the first to run `retrain run` in its home)."""
    if not (airflow_home / "airflow.db").exists():
        return [], {}
    try:
        with contextlib.closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
            runs = list(db.execute("select run_id, state from dag_run where dag_id = ? order by id", (dag_id,)))
            tis = dict(db.execute("select task_id, state from task_instance where dag_id = ? and run_id = ?",
                                  (dag_id, runs[-1][0]))) if runs else {}
    except sqlite3.OperationalError:  # no such table: `airflow db migrate` is still creating it
        return [], {}
    return [state for _, state in runs], tis


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_leaves_nothing_running(home, signum):
    import psutil

    root, env = home
    airflow_home = Path(env["AIRFLOW_HOME"])
    runs_before = len(_states(airflow_home, "retrain_churn_like")[0])
    # 1000 epochs (the form's maximum; 15-20 s of training here): the run is interrupted in the middle of `train`
    command = [sys.executable, "-m", "retrain.cli", "run", "churn_like", "--as-of", "2013-06-10", "--epochs", "1000"]
    # as from a terminal: Ctrl-C's signal not ignored, whatever this test process inherited or set
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            runs, tis = _states(airflow_home, "retrain_churn_like")
            if len(runs) > runs_before and tis.get("train") == "running":
                break
            time.sleep(0.5)
        assert proc.poll() is None and tis.get("train") == "running", "the run never got to training"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children  # `airflow dags test` and the processes it started
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert "Interrupted: the run was stopped and marked failed" in out
    runs, tis = _states(airflow_home, "retrain_churn_like")
    assert not [s for s in runs if s in UNFINISHED] and runs[-1] == "failed", runs
    assert not {t: s for t, s in tis.items() if s in UNFINISHED}, tis
    assert tis["train"] == "failed"
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]
