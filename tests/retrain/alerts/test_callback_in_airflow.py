"""The failure callback inside a real Airflow 3 task run (``airflow dags test``), posting to the stand-in.

This checks the callback against the context the task runner really builds, not a hand-made one.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support import warm_process
from tests.support.airflow_db import migrated_sqlite
from tests.support.slack_standin import SlackStandIn, slack_connection_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_FILE = textwrap.dedent(
    """
    from datetime import datetime

    from airflow.sdk import DAG, task


    def _on_failure(context):
        from retrain.alerts import task_failure_callback

        task_failure_callback(context)


    with DAG(
        "alert_probe",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params={"model_name": "churn", "slack_channel": "#probe-alerts"},
        default_args={"on_failure_callback": _on_failure, "retries": 0},
    ):

        @task
        def train():
            raise ValueError("loss is NaN at epoch 3\\nsecond line of detail")

        train()
    """
)


def _airflow(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return warm_process.airflow(*args, env=env, timeout=180)


def test_failure_callback_posts_from_a_real_task_run(slack: SlackStandIn, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alert_probe.py").write_text(DAG_FILE)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection_json(slack.base_url),
    }
    env.pop("RETRAIN_SLACK_CONN_ID", None)
    migrated_sqlite(tmp_path / "airflow")  # a copy of a migrated metadata database (db migrate: 10-20 s)

    run = _airflow(["dags", "test", "alert_probe"], env)
    output = run.stdout + run.stderr

    assert "Slack alert delivered to #probe-alerts" in output, output[-3000:]
    [message] = slack.messages
    assert message.channel == "#probe-alerts"
    for part in (
        "alert_probe",
        "train",
        "manual__",
        "Try: 1",
        "ValueError: loss is NaN at epoch 3",
        "churn",
        "/dags/alert_probe/runs/",
    ):
        assert part in message.text, part
    assert "second line of detail" not in message.text
    assert [block["type"] for block in message.blocks] == ["header", "section", "section", "context"]
