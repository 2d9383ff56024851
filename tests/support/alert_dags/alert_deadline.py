"""A test-only DAG for tests/integration/test_alert_deadline_scheduler.py, run by a real scheduler.

Its deadline and failure alerts come from the same builder and notifier the factory uses
(``retrain.alerts.deadline.deadline_alert`` with ``RetrainSlackNotifier``), with ``ALERT_PROBE_DEADLINE_MINUTES``
(default 0.2) instead of a spec. ``hold`` keeps the run going until the file ``ALERT_PROBE_RELEASE`` exists (the test creates it once the deadline alert has arrived), so the run misses
its deadline without any guess about timing. ``leaky`` then reads the Slack token from the connection and
fails with it in its message.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task
from retrain.alerts.deadline import deadline_alert
from retrain.orchestration.retries import default_task_args
from retrain.orchestration.slack_notifier import RetrainSlackNotifier

with DAG(
    "alert_deadline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"model_name": "churn", "slack_channel": "#churn-alerts"},
    deadline=deadline_alert("churn", "#churn-alerts", float(os.environ.get("ALERT_PROBE_DEADLINE_MINUTES", "0.2")),
                            callback=RetrainSlackNotifier, kind="deadline"),
    default_args={"owner": "tests", "on_failure_callback": RetrainSlackNotifier("failure"), **default_task_args()},
    tags=["retrain", "test-only"],
):

    @task
    def hold() -> None:
        release = Path(os.environ.get("ALERT_PROBE_RELEASE", "/nonexistent"))
        for _ in range(600):
            if release.exists():
                return
            time.sleep(0.5)
        raise TimeoutError("nobody released the run")

    @task
    def leaky() -> None:
        import logging

        from airflow.sdk import Connection
        from retrain.errors import DeterministicFailure

        token = Connection.get("slack_default").password
        logging.getLogger("alert_deadline").info("about to fail, the token is %s", token)
        raise DeterministicFailure(f"upstream refused the request signed with {token}")

    hold() >> leaky()
