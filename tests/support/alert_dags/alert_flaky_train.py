"""A test-only DAG for the alert end-to-end tests (tests/integration/test_alert_*.py).

It is wired exactly like the factory's DAGs where alerts are concerned: the project's task arguments
(3 retries, exponential backoff, the retry policy) and failure callback, and the params the callback reads.
Its tasks only simulate failures, so the tests run in seconds:

* ``train`` raises ``ConnectionError`` on its first ``ALERT_PROBE_TRAIN_FAILURES`` tries (default 3), then
  returns an MLflow run reference like the real train task;
* with ``ALERT_PROBE_TRAIN_HANGS=1``, ``train`` instead hangs on every try (a stalled mount or a silent peer)
  until its execution timeout ends the try;
* ``evaluate`` fails with a deterministic error whose message contains the Slack token it read from the
  Airflow connection (the way a careless error message would leak it), unless ``ALERT_PROBE_EVALUATE=ok``.

Each try appends a line to ``ALERT_PROBE_TRIES`` (a file) so the test can count them.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task
from retrain.orchestration.retries import default_task_args


def _on_failure(context):
    from retrain.alerts import task_failure_callback

    task_failure_callback(context)


def _record(task_id: str, try_number: int) -> None:
    path = os.environ.get("ALERT_PROBE_TRIES")
    if path:
        with open(path, "a") as handle:
            handle.write(f"{task_id} {try_number}\n")


with DAG(
    "alert_flaky_train",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"model_name": "churn", "slack_channel": "#churn-alerts"},
    default_args={"owner": "tests", "on_failure_callback": _on_failure, **default_task_args()},
    tags=["retrain", "test-only"],
):

    @task
    def train() -> dict:
        ti = get_current_context()["ti"]
        _record("train", ti.try_number)
        if os.environ.get("ALERT_PROBE_TRAIN_HANGS") == "1":
            import time

            time.sleep(3600)
        if ti.try_number <= int(os.environ.get("ALERT_PROBE_TRAIN_FAILURES", "3")):
            raise ConnectionError(f"MLflow tracking server refused the connection (try {ti.try_number})")
        return {"run_id": "feedc0de", "experiment_id": "7", "model_uri": "models:/m-feedc0de"}

    @task
    def evaluate(trained: dict) -> dict:
        from airflow.sdk import Connection
        from retrain.errors import DeterministicFailure

        ti = get_current_context()["ti"]
        _record("evaluate", ti.try_number)
        if os.environ.get("ALERT_PROBE_EVALUATE") == "ok":
            return {"candidate": {}}
        token = Connection.get("slack_default").password
        raise DeterministicFailure(f"holdout scoring rejected: request signed with {token} was refused")

    evaluate(train())
