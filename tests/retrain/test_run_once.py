"""`retrain run`: the conf it passes, and a run that did nothing is never reported as green."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from retrain.cli import build_parser
from retrain.run_once import did_nothing, run_conf


def test_a_run_by_hand_never_waits_for_data_unless_asked() -> None:
    assert run_conf(date(2013, 6, 10), None) == {"as_of": "2013-06-10", "wait_minutes": 0.0}
    assert run_conf(date(2013, 6, 10), 15) == {"as_of": "2013-06-10", "wait_minutes": 15}
    assert run_conf(None, None) == {"wait_minutes": 0.0}  # it used to wait an hour, silently, for stale data
    assert run_conf(None, 5, promote="approval", epochs=1) == {"wait_minutes": 5, "promote": "approval", "epochs": 1}


def test_data_years_old_gets_the_as_of_that_trains_on_it(tmp_path, monkeypatch) -> None:
    import shutil

    from retrain.config import load_spec
    from retrain.data.landing import write_partition
    from retrain.run_once import stale_data_hint
    from retrain_demo.data import generate_day

    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    shipped = Path(__file__).resolve().parents[2] / "include" / "specs" / "ecommerce_dwell_time.yaml"
    (tmp_path / "specs").mkdir()
    shutil.copy(shipped, tmp_path / "specs" / "dwell.yaml")
    spec = load_spec(tmp_path / "specs" / "dwell.yaml").spec
    assert stale_data_hint(spec) is None  # no data at all: nothing to suggest
    write_partition(generate_day(date(1994, 5, 30), 50), tmp_path / "data" / "ecommerce" / "impressions",
                    date(1994, 5, 30))
    hint = stale_data_hint(spec)
    assert "newest complete partition is 1994-05-30, older than the 7-day window" in hint
    # an --as-of date includes its own partition: the window that ends with the newest day, not a day after it
    assert "`retrain run ecommerce_dwell_time --as-of 1994-05-30` trains on the 7 days that end with it" in hint


def test_a_run_that_did_nothing_says_so() -> None:
    assert "no task ran" in did_nothing({})
    skipped = {"check_freshness": "skipped", "train": "skipped", "notify": "skipped"}
    assert "check_freshness skipped" in did_nothing(skipped)
    assert did_nothing({"check_freshness": "success", "train": "success", "promote": "skipped"}) is None
    assert did_nothing({"check_freshness": "failed", "train": "upstream_failed"}) is None  # failed visibly


def test_the_cli_parses_run() -> None:
    args = build_parser().parse_args(["run", "churn_risk", "--as-of", "2013-06-10", "--wait-minutes", "5"])
    assert args.model == "churn_risk" and args.as_of == date(2013, 6, 10) and args.wait_minutes == 5


def test_a_segment_run_that_trained_is_not_reported_as_doing_nothing() -> None:
    states = {"check_freshness": "success", "validate_data": "success", "plan_chunks": "success",
              "train_chunk": "success", "report": "success"}
    assert did_nothing(states) is None
    assert "check_freshness skipped" in did_nothing({**states, "check_freshness": "skipped",
                                                     "train_chunk": "skipped", "report": "skipped"})


def test_the_summary_lists_heads_not_other_dotted_metrics(tmp_path, monkeypatch, capsys) -> None:
    import mlflow
    from retrain.run_once import print_summary

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("churn")
    with mlflow.start_run(tags={"airflow.dag_id": "retrain_churn", "airflow.run_id": "manual__1",
                                "retrain.gate_decision": "reject", "retrain.gate_reasons": "regression",
                                "retrain.training_note": "the candidate took only 15 optimizer steps",
                                "retrain.data_warnings": '["retrain_feature_has_values on wind: feature \'wind\' is null"]'}):
        mlflow.log_metrics({"churn.roc_auc": 0.71, "champion.churn.roc_auc": 0.73, "churn.mobile.roc_auc": 0.6,
                            "gate.champion_seen_holdout_rows": 0, "resources.wall_seconds": 12.0,
                            "ltv.rmse": 15.3, "ltv.labeled_rows": 2853.0})
    ok, run_id = print_summary("churn", "retrain_churn", 0)
    out = capsys.readouterr().out
    assert ok and run_id == "manual__1"
    assert "head churn  roc_auc=0.7100   (champion: roc_auc=0.7300)" in out
    assert [line.split()[1] for line in out.splitlines() if line.strip().startswith("head ")] == ["churn", "ltv"]
    assert "head ltv    rmse=15.3000   (on the 2,853 holdout rows with its label)" in out  # a head with late labels
    assert "Note:          the candidate took only 15 optimizer steps" in out  # why it may have learnt little
    assert "Data warning:  retrain_feature_has_values on wind: feature 'wind' is null" in out


def test_the_embedded_database_is_migrated_once_per_airflow_release(tmp_path) -> None:
    import json
    import os
    import sqlite3

    from retrain.run_once import MIGRATED_MARKER, _embedded_sqlite, migrate, needs_migration

    from tests.support.airflow_db import migrated_sqlite

    home = tmp_path / "airflow"
    db = migrated_sqlite(home)  # migrated, but by nobody who left a marker: `retrain run` must migrate
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    assert needs_migration(env)
    first = migrate(env)
    assert first is not None and first.returncode == 0, first.stderr[-2000:] if first else ""
    marker = json.loads((home / MIGRATED_MARKER).read_text())
    with sqlite3.connect(db) as conn:
        assert marker["revision"] == conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert not needs_migration(env) and migrate(env) is None  # same release, same revision: no CLI start

    (home / MIGRATED_MARKER).write_text(json.dumps({**marker, "airflow": "3.0.0"}))  # after an upgrade
    assert needs_migration(env)
    (home / MIGRATED_MARKER).write_text(json.dumps({**marker, "revision": "0123abcd"}))  # the database moved on
    assert needs_migration(env)
    (home / MIGRATED_MARKER).write_text(json.dumps(marker))
    (home / "airflow.cfg").write_text("[database]\nsql_alchemy_conn = postgresql://u@db/airflow\n")
    assert _embedded_sqlite(env) is None and needs_migration(env)  # another database: always migrated
    assert _embedded_sqlite({**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}) == db


def test_the_forked_airflow_command_reports_its_exit_code_and_writes_its_log(tmp_path, monkeypatch) -> None:
    from importlib.metadata import version

    from retrain.run_once import _fork_airflow, _wait

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    ok, bad = tmp_path / "ok.log", tmp_path / "bad.log"
    assert _wait(_fork_airflow(["version"], ok)) == 0
    assert version("apache-airflow") in ok.read_text()
    assert _wait(_fork_airflow(["no-such-command"], bad)) == 2  # argparse's usage error
    assert "invalid choice" in bad.read_text()


def test_a_broken_or_missing_spec_is_named_before_airflow_starts(tmp_path) -> None:
    import shutil

    import yaml
    from retrain.run_once import model_spec

    shipped = Path(__file__).resolve().parents[2] / "include" / "specs" / "ecommerce_dwell_time.yaml"
    shutil.copy(shipped, tmp_path / "dwell.yaml")
    broken = yaml.safe_load(shipped.read_text())
    broken["name"] = "credit_default"
    del broken["validation"]
    (tmp_path / "credit.yaml").write_text(yaml.safe_dump(broken))

    spec, problem = model_spec("ecommerce_dwell_time", tmp_path)
    assert problem is None and spec.name == "ecommerce_dwell_time"
    spec, problem = model_spec("credit_default", tmp_path)
    assert spec is None and "credit.yaml" in problem and "field 'validation'" in problem
    _, missing = model_spec("churn", tmp_path)
    assert "names the model 'churn'" in missing and "ecommerce_dwell_time" in missing


def test_a_failed_run_names_its_errors_once_each() -> None:
    from retrain.run_once import failure_reasons

    log = ("[info] task started\nTask failed: retrain_x.train\nError: DataReadError: column 'temp' must be numeric\n"
           "  Error: DataReadError: column 'temp' must be numeric\nError: SpecError: field 'gate'\n")
    assert failure_reasons(log) == ["Error: DataReadError: column 'temp' must be numeric",
                                   "Error: SpecError: field 'gate'"]
    # alerts sent to Slack leave no Error: line in the task log: the product's own exceptions still say why
    traceback = ('  File "x.py", line 1, in f\nretrain.errors.StaleDataError: dt=2005-09-06: 400 rows, fewer than 1000\n'
                 "retrain.pipeline.segment_stage.SegmentFailures: no segment was trained\n")
    assert failure_reasons(traceback) == ["Error: StaleDataError: dt=2005-09-06: 400 rows, fewer than 1000",
                                          "Error: SegmentFailures: no segment was trained"]
    # a segment that failed is named: the digest went to Slack, and the summary lists only segments with a run
    failed = "retrain.pipeline.segment_stage.SegmentFailures: 1 of 3 segments failed: monsoon: DataReadError: no rows\n"
    assert failure_reasons(failed) == ["Error: SegmentFailures: 1 of 3 segments failed: monsoon: DataReadError: no rows"]


def test_a_segment_summary_says_why_segments_were_rejected(tmp_path, monkeypatch, capsys) -> None:
    import mlflow
    from retrain.run_once import print_segment_summary

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("fraud__segments")
    few = "the candidate took only 3 optimizer steps (320 training rows in batches of 1,024, 3 epoch(s))"
    for value, decision, why in [("travel", "reject", "fraud: the holdout holds 1 positive and 79 negative rows"),
                                 ("fuel", "reject", "fraud.roc_auc: 0.5100 >= 0.6000 FAILED"),
                                 ("grocery", "promote", "all thresholds met")]:
        perfect = {"retrain.evaluation_note": "Too good to be true: head 'fraud' scores roc_auc=1.0000"} if (
            value == "grocery") else {}
        with mlflow.start_run(tags={"airflow.dag_id": "retrain_fraud", "retrain.segment": value,
                                    "retrain.gate_decision": decision, "retrain.gate_reasons": why,
                                    "retrain.training_note": few, **perfect}):
            pass
    assert print_segment_summary("fraud", "retrain_fraud", 0)
    out = capsys.readouterr().out
    assert "3 trained; gate decisions: promote 1, reject 2" in out
    assert "  rejected fuel: fraud.roc_auc: 0.5100 >= 0.6000 FAILED" in out
    assert "  rejected travel: fraud: the holdout holds 1 positive and 79 negative rows" in out
    assert f"Note:          3 of 3 segments took few optimizer steps, e.g. fuel: {few}" in out
    assert ("Note:          1 of 3 segments scored too well to be true, e.g. grocery: Too good to be true: head "
            "'fraud' scores roc_auc=1.0000") in out


def test_the_log_tail_of_a_failed_run_never_sends_control_characters_to_the_terminal() -> None:
    """A data value quoted in an error (a hostile partition's text) reached the terminal raw in the log tail
    that ``retrain run`` prints after a failed run; the summary lines were escaped, the tail was not."""
    from retrain.run_once import log_tail

    log_text = "\n".join([*(f"line {i}" for i in range(50)),
                          "DataReadError: e.g. ['\x1b[2J\x1b[1;1Hall clear', 'bell\x07']"])
    tail = log_tail(log_text, lines=3)
    assert tail.splitlines() == ["line 48", "line 49",
                                 "DataReadError: e.g. ['\\x1b[2J\\x1b[1;1Hall clear', 'bell\\x07']"]
