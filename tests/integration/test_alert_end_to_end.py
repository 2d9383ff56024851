"""Alerts end to end: real DAG runs (``airflow dags test`` in a subprocess, its own AIRFLOW_HOME) posting to
the real HTTP Slack stand-in.

``airflow dags test`` performs real retries: a failed try goes to ``up_for_retry`` and the loop waits until
the task's (exponential) retry delay has passed before the next try, like the scheduler does. So with
``RETRAIN_RETRY_DELAY_SECONDS=1`` the four tries of a task take about 1 + 2 + 4 seconds of waiting. The tries
are counted from Airflow's own metadata database (``task_instance`` and ``task_instance_history``).

* The factory's ``retrain_ecommerce_esmm`` DAG with the MLflow server answering 503 to every write
  (tests/support/mlflow_standin.py): ``train`` fails on all four tries with a transient error, and exactly
  one failure alert arrives, after the fourth.
* A test-only DAG (tests/support/alert_dags): ``train`` fails three times and succeeds on the fourth try
  (no alert), then ``evaluate`` fails deterministically (one alert at once, linking the MLflow run that
  ``train`` returned, with the Slack token its message carried redacted).
* Slack down during a run: the alert waits in the outbox, and the next run's alert delivers it first.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import pytest

from tests.support import warm_process
from tests.support.airflow_db import migrated_sqlite
from tests.support.mlflow_standin import MlflowUnavailable
from tests.support.slack_standin import DEFAULT_TOKEN, SlackStandIn, slack_connection_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROBE_DAGS = ROOT / "tests" / "support" / "alert_dags"


class Airflow:
    """An isolated Airflow home for ``airflow dags test`` runs."""

    def __init__(self, root: Path, dags_folder: Path, env: dict[str, str]) -> None:
        self.root, self.home = root, root / "airflow"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__API__BASE_URL": "http://airflow.example",
            "RETRAIN_RETRY_DELAY_SECONDS": "1",
            "RETRAIN_LOCAL_STATE": str(root / "state"),
            "RETRAIN_SLACK_OUTBOX": str(root / "outbox.jsonl"),
            **env,
        }
        self.env.pop("RETRAIN_SLACK_CONN_ID", None)
        migrated_sqlite(self.home)  # a copy of a migrated metadata database (airflow db migrate: 10-20 s)

    def run(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return warm_process.airflow(*args, env=self.env, timeout=timeout)

    def dags_test(self, dag_id: str, logical_date: str) -> tuple[str, str]:
        """Run one DAG run; returns its run id and the whole output (kept next to the run for debugging)."""
        result = self.run("dags", "test", dag_id, logical_date)
        output = result.stdout + result.stderr
        (self.root / f"{dag_id}-{logical_date[:10]}.log").write_text(output)
        conn = sqlite3.connect(self.home / "airflow.db")
        rows = conn.execute("SELECT run_id, logical_date FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchall()
        conn.close()
        matching = [run_id for run_id, logical in rows if str(logical).startswith(logical_date[:19].replace("T", " "))]
        assert len(matching) == 1, f"expected one run of {dag_id} at {logical_date}, found {rows}; see {self.root}"
        return matching[0], output

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[tuple[int, str]]:
        """Every try of a task instance, from Airflow's metadata DB: (try_number, state), oldest first."""
        conn = sqlite3.connect(self.home / "airflow.db")
        query = "SELECT try_number, state FROM {} WHERE dag_id = ? AND run_id = ? AND task_id = ?"
        args = (dag_id, run_id, task_id)
        earlier = conn.execute(query.format("task_instance_history"), args).fetchall()
        current = conn.execute(query.format("task_instance"), args).fetchall()
        conn.close()
        return sorted(earlier) + current


def _payload(messages) -> str:
    return json.dumps([m.payload for m in messages], ensure_ascii=False)


# -- the factory DAG, MLflow down ---------------------------------------------------------------------------


def test_real_dag_train_fails_four_times_and_alerts_once_after_the_fourth_try(tmp_path: Path) -> None:
    from retrain_demo.data import generate_demo_data

    generate_demo_data(tmp_path / "data", date(2026, 11, 21), days=7, rows_per_day=3_000)
    with SlackStandIn() as slack, MlflowUnavailable() as mlflow_server:
        airflow = Airflow(
            tmp_path,
            ROOT / "dags",
            {
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "RETRAIN_DATA_ROOT": str(tmp_path / "data"),
                "MLFLOW_TRACKING_URI": mlflow_server.url,  # answers 503 to every write
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's own client retries would only slow this down
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                "RETRAIN_MLFLOW_UI_URL": "http://mlflow.example",
                "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection_json(slack.base_url),
            },
        )
        dag_id = "retrain_ecommerce_esmm"
        run_id, output = airflow.dags_test(dag_id, "2026-11-22T03:00:00+00:00")

        assert airflow.tries(dag_id, run_id, "check_freshness")[-1][1] == "success", output[-3000:]
        assert airflow.tries(dag_id, run_id, "validate_data")[-1][1] == "success", output[-3000:]
        train_tries = airflow.tries(dag_id, run_id, "train")
        assert [n for n, _ in train_tries] == [1, 2, 3, 4], train_tries
        assert train_tries[-1][1] == "failed"
        assert airflow.tries(dag_id, run_id, "evaluate")[-1][1] == "upstream_failed"
        assert mlflow_server.paths.count("/api/2.0/mlflow/experiments/create") == 4, "one write per try"
        # every try was classified by the retry policy as the MLflow server being unavailable
        assert output.count("transient: MLflow tracking server unavailable") == 4

        [alert] = slack.messages  # exactly one alert: none for the three tries that were retried
        assert alert.channel == "#ml-alerts"  # the spec's channel
        assert alert.blocks[0]["text"]["text"] == f"Task failed: {dag_id}.train"
        for part in (
            f"Task failed (model ecommerce_esmm): {dag_id}.train",
            f"Run: {run_id}",
            "Try: 4 (final attempt)",
            f"Error: MlflowException: API request to {mlflow_server.url}/api/2.0/mlflow/experiments/create failed",
            f"Log: http://airflow.example/dags/{dag_id}/runs/",
            "/tasks/train?try_number=4",
        ):
            assert part in alert.text, part
        assert "*Try*\\n4 (final attempt)" in json.dumps(alert.blocks)
        assert "Traceback" not in alert.text
        assert len([line for line in alert.text.splitlines() if line.startswith("Error:")]) == 1
        outbox = Path(airflow.env["RETRAIN_SLACK_OUTBOX"])
        assert not outbox.exists() or outbox.read_text().strip() == ""


# -- the test-only DAG ----------------------------------------------------------------------------------------


@pytest.fixture
def probe(tmp_path: Path):
    with SlackStandIn() as slack:
        airflow = Airflow(
            tmp_path,
            PROBE_DAGS,
            {
                "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection_json(slack.base_url),
                "ALERT_PROBE_TRIES": str(tmp_path / "tries.txt"),
                "RETRAIN_MLFLOW_UI_URL": "http://mlflow.example",
            },
        )
        yield airflow, slack


def test_three_transient_failures_then_success_send_no_alert_and_a_deterministic_one_alerts_once(probe) -> None:
    airflow, slack = probe
    run_id, output = airflow.dags_test("alert_flaky_train", "2026-11-22T03:00:00+00:00")

    assert airflow.tries("alert_flaky_train", run_id, "train") == [
        (1, "failed"), (2, "failed"), (3, "failed"), (4, "success")
    ]
    assert airflow.tries("alert_flaky_train", run_id, "evaluate") == [(1, "failed")], "deterministic: no retry"
    assert (Path(airflow.env["ALERT_PROBE_TRIES"]).read_text().split("\n")[:5]
            == ["train 1", "train 2", "train 3", "train 4", "evaluate 1"])
    assert output.count("transient: connection error or timeout") == 3
    assert "deterministic failure: retrying with the same inputs cannot succeed" in output

    [alert] = slack.messages  # nothing for train's retried tries
    assert alert.channel == "#churn-alerts"
    for part in (
        "Task failed (model churn): alert_flaky_train.evaluate",
        "Try: 1 (deterministic failure, not retried)",
        "Error: DeterministicFailure: holdout scoring rejected: request signed with *** was refused",
        "MLflow run: http://mlflow.example/#/experiments/7/runs/feedc0de",  # from train's XCom
        "Log: http://airflow.example/dags/alert_flaky_train/runs/",
    ):
        assert part in alert.text, part
    assert "<http://mlflow.example/#/experiments/7/runs/feedc0de|MLflow run>" in json.dumps(alert.blocks)
    # the token the task put in its error message is not in the Slack message, nor in what our code logged
    assert DEFAULT_TOKEN not in _payload(slack.messages)
    ours = [line for line in output.splitlines() if "retrain.alerts" in line]
    assert ours and all(DEFAULT_TOKEN not in line for line in ours)


def test_a_task_that_hangs_times_out_is_retried_and_alerts_once(probe) -> None:
    """Without an execution timeout a hung task held its slot and never failed, so no alert ever went out."""
    airflow, slack = probe
    airflow.env.update({"ALERT_PROBE_TRAIN_HANGS": "1", "RETRAIN_TASK_TIMEOUT_MINUTES": "0.02",  # 1.2 s
                        "RETRAIN_RETRY_DELAY_SECONDS": "0.2"})
    run_id, output = airflow.dags_test("alert_flaky_train", "2026-11-22T03:00:00+00:00")

    assert airflow.tries("alert_flaky_train", run_id, "train") == [
        (1, "failed"), (2, "failed"), (3, "failed"), (4, "failed")], output[-3000:]
    [alert] = slack.messages
    assert "Try: 4 (final attempt)" in alert.text
    assert "Error: AirflowTaskTimeout: Timeout, PID" in alert.text and "RETRAIN_TASK_TIMEOUT_MINUTES" in alert.text


def test_slack_down_during_a_run_keeps_the_alert_and_the_next_run_delivers_it(probe) -> None:
    airflow, slack = probe
    airflow.env["ALERT_PROBE_TRAIN_FAILURES"] = "0"
    slack.fail_with_server_error(times=1000)
    first_run, output = airflow.dags_test("alert_flaky_train", "2026-11-22T03:00:00+00:00")
    assert slack.messages == []
    outbox = Path(airflow.env["RETRAIN_SLACK_OUTBOX"])
    [queued] = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert queued["channel"] == "#churn-alerts" and first_run in queued["text"]
    assert "HTTP 500" in queued["last_error"] and DEFAULT_TOKEN not in outbox.read_text()
    assert "NOT delivered via Airflow connection 'slack_default'" in output
    assert "queued in the Slack outbox" in output

    slack.clear_faults()
    second_run, _ = airflow.dags_test("alert_flaky_train", "2026-11-23T03:00:00+00:00")
    assert [m.channel for m in slack.messages] == ["#churn-alerts", "#churn-alerts"]
    assert first_run in slack.messages[0].text, "the queued alert goes first"
    assert second_run in slack.messages[1].text
    assert slack.messages[0].blocks == queued["blocks"]
    assert outbox.read_text().strip() == ""
