"""Alerts on a real running Airflow (api-server, scheduler with LocalExecutor, dag-processor, triggerer):
what ``airflow dags test`` cannot show.

* A run that misses its ``DeadlineAlert`` (the spec's ``deadline_minutes``, counted from queued): the
  scheduler hands the ``AsyncCallback`` to the triggerer and exactly one "Deadline missed" message arrives,
  while the run's task still holds the executor's only slot (parallelism 1). A ``SyncCallback`` would wait
  for that slot, which this run frees only after the alert has arrived (tried: it never arrives).
* A task that puts the Slack token in its own error: its task log file (what the UI shows) has it masked
  by Airflow, and the failure alert has it redacted by ours.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.shared_airflow import share_airflow
from tests.support.slack_standin import DEFAULT_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_DAG = ROOT / "tests" / "support" / "alert_dags" / "alert_deadline.py"

share_airflow(stack="approval", dag_files=[DEADLINE_DAG],
              env={"ALERT_PROBE_DEADLINE_MINUTES": "0.2", "ALERT_PROBE_RELEASE": "{root}/alert-deadline-release"})


def test_missed_deadline_alerts_once_and_the_token_stays_masked(shared_airflow) -> None:
    airflow, slack = shared_airflow.airflow, shared_airflow.slack
    release = Path(airflow.env["ALERT_PROBE_RELEASE"])
    slack.reset()
    airflow.wait_for_dag("alert_deadline")
    airflow.api.call("PATCH", "dags/alert_deadline", {"is_paused": False})
    run_id = airflow.api.call("POST", "dags/alert_deadline/dagRuns", {"logical_date": None})["dag_run_id"]

    def deadline_alerts():
        airflow.check_alive()
        return [m for m in slack.messages if "Deadline missed" in (m.text or "")]

    [deadline] = airflow.wait_for(deadline_alerts, timeout=300, what="the deadline alert", interval=1)
    release.touch()  # the run may finish now; it has missed its deadline

    def finished():
        run = airflow.api.call("GET", f"dags/alert_deadline/dagRuns/{run_id}")
        return run if run["state"] in ("success", "failed") else None

    run = airflow.wait_for(finished, timeout=300, what="the run to finish", interval=1)
    failures = airflow.wait_for(
        lambda: [m for m in slack.messages if "Task failed" in (m.text or "")],
        timeout=60, what="the failure alert", interval=1,
    )
    time.sleep(2)  # anything else in flight would arrive now; the counts below must not change
    messages = slack.messages

    assert run["state"] == "failed"
    assert deadline.channel == "#churn-alerts"
    assert deadline.blocks[0]["text"]["text"] == "Deadline missed: churn"
    for part in (f"run {run_id}", "had not finished 0.2 min after it was queued", "state running"):
        assert part in deadline.text, part
    assert f"/dags/alert_deadline/runs/{run_id.replace(':', '%3A').replace('+', '%2B')}" in json.dumps(
        deadline.blocks
    )
    assert len([m for m in messages if "Deadline missed" in (m.text or "")]) == 1

    [failure] = failures
    assert "Task failed (model churn): alert_deadline.leaky" in failure.text
    assert "upstream refused the request signed with ***" in failure.text
    assert DEFAULT_TOKEN not in json.dumps([m.payload for m in messages])

    logs = list((airflow.home / "logs").rglob("dag_id=alert_deadline/**/task_id=leaky/attempt=1.log"))
    assert len(logs) == 1
    task_log = logs[0].read_text()
    assert "about to fail, the token is ***" in task_log
    assert DEFAULT_TOKEN not in task_log, "the task log shown in the UI must not hold the token"
