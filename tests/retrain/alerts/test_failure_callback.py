"""task_failure_callback posts what went wrong, and never raises."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from retrain.alerts import task_failure_callback
from retrain.errors import StaleDataError

from tests.support.slack_standin import SlackStandIn


@dataclass
class FakeTaskInstance:
    """The attributes a RuntimeTaskInstance offers a callback (airflow.sdk 1.3)."""

    dag_id: str = "retrain_churn"
    task_id: str = "train"
    run_id: str = "scheduled__2024-05-01T00:00:00+00:00"
    try_number: int = 4
    map_index: int = -1
    log_url: str = "http://localhost:8080/dags/retrain_churn/runs/scheduled__2024-05-01T00%3A00%3A00%2B00%3A00/tasks/train?try_number=4"


def _context(**overrides) -> dict:
    ti = FakeTaskInstance()
    context = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "params": {"model_name": "churn", "slack_channel": "#churn-alerts"},
        "exception": RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nfull traceback here"),
    }
    context.update(overrides)
    return context


def test_posts_dag_task_run_try_and_error(slack_connection: SlackStandIn) -> None:
    task_failure_callback(_context())
    [message] = slack_connection.messages
    assert message.channel == "#churn-alerts"
    for part in (
        "retrain_churn",
        "train",
        "scheduled__2024-05-01T00:00:00+00:00",
        "Try: 4",
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "churn",
        FakeTaskInstance.log_url,
    ):
        assert part in message.text, part
    assert "full traceback here" not in message.text
    blocks_text = str(message.blocks)
    assert message.blocks[0]["type"] == "header"
    assert message.blocks[-1]["type"] == "context"
    assert "retrain_churn" in blocks_text and "*Try*\\n4" in blocks_text
    assert "RuntimeError: CUDA out of memory" in blocks_text
    assert FakeTaskInstance.log_url in blocks_text


def test_deterministic_failures_say_they_were_not_retried(slack_connection: SlackStandIn) -> None:
    task_failure_callback(
        _context(
            exception=StaleDataError("newest partition is 9 days old"), ti=FakeTaskInstance(try_number=1)
        )
    )
    [message] = slack_connection.messages
    assert "not retried" in message.text and "StaleDataError: newest partition is 9 days old" in message.text


def test_defaults_to_ml_alerts_channel(slack_connection: SlackStandIn) -> None:
    task_failure_callback(_context(params={}))
    assert slack_connection.messages[0].channel == "#ml-alerts"


@pytest.mark.parametrize(
    "context",
    [{}, {"ti": None}, {"params": None, "exception": "Task was killed externally"}, {"ti": object()}],
    ids=["empty", "no-ti", "string-exception", "bare-ti"],
)
def test_partial_context_still_posts(slack_connection: SlackStandIn, context: dict) -> None:
    task_failure_callback(context)
    [message] = slack_connection.messages
    assert message.channel == "#ml-alerts" and "Task failed" in message.text


def test_never_raises_even_when_slack_is_down(slack_connection: SlackStandIn, caplog) -> None:
    caplog.set_level(logging.INFO)
    slack_connection.fail_with_api_error("invalid_auth")
    task_failure_callback(_context())
    assert slack_connection.messages == []
    assert any("NOT delivered" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_never_raises_without_a_connection(no_slack_connection, caplog) -> None:
    caplog.set_level(logging.WARNING)
    task_failure_callback(_context())
    assert any("retrain_churn" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_never_raises_on_a_context_that_is_not_a_mapping(slack_connection: SlackStandIn) -> None:
    task_failure_callback(None)  # type: ignore[arg-type]
    assert len(slack_connection.messages) == 1


def test_a_data_contract_failure_arrives_in_the_contract_layout(slack_connection: SlackStandIn) -> None:
    from retrain.errors import DataContractError

    error = DataContractError(
        "Data contract 'churn' failed on partition crm dt=2026-11-21: expect_column_values_to_be_in_set on "
        "column 'plan': 3 rows outside the set",
        failures=[{"expectation": "expect_column_values_to_be_in_set", "column": "plan", "severity": "block",
                   "observed": "3 of 500 rows (0.6%) not in {'basic', 'pro'}", "partition": "crm dt=2026-11-21"}],
    )
    task_failure_callback(_context(exception=error, ti=FakeTaskInstance(task_id="validate_data", try_number=1)))
    [message] = slack_connection.messages
    assert message.channel == "#churn-alerts"
    assert message.blocks[0]["text"]["text"] == "Data contract failed: churn"
    blocks = str(message.blocks)
    assert "expect_column_values_to_be_in_set" in blocks and "`plan`" in blocks
    assert "crm dt=2026-11-21" in blocks and "Data Docs" in blocks
    assert "validate_data" in message.text and "not retried" in message.text


def test_stale_data_arrives_in_the_stale_layout(slack_connection: SlackStandIn) -> None:
    error = StaleDataError("x: newest partition is 51.0 h old", reason="too_old", newest_partition="2026-11-19",
                           age_hours=51.0, max_age_hours=30)
    task_failure_callback(_context(exception=error, ti=FakeTaskInstance(task_id="check_freshness", try_number=1)))
    [message] = slack_connection.messages
    assert message.blocks[0]["text"]["text"] == "Stale data: churn"
    assert "*Newest partition*\\n2026-11-19" in str(message.blocks) and "*Allowed age*\\n30 h" in str(message.blocks)


def test_failure_after_train_links_the_mlflow_run(slack_connection: SlackStandIn, monkeypatch) -> None:
    monkeypatch.setenv("RETRAIN_MLFLOW_UI_URL", "http://mlflow.example")

    @dataclass
    class TiWithXcom(FakeTaskInstance):
        def xcom_pull(self, task_ids=None, **_):
            return {"run_id": "r123", "experiment_id": "5", "model_uri": "m"} if task_ids == "train" else None

    task_failure_callback(_context(ti=TiWithXcom(task_id="evaluate")))
    [message] = slack_connection.messages
    assert "http://mlflow.example/#/experiments/5/runs/r123" in message.text
    assert "<http://mlflow.example/#/experiments/5/runs/r123|MLflow run>" in message.blocks[-1]["elements"][0]["text"]
    assert FakeTaskInstance.log_url in message.blocks[-1]["elements"][0]["text"]


def test_a_fan_out_report_whose_digest_went_out_sends_no_second_alert(slack_connection: SlackStandIn) -> None:
    from retrain.pipeline.segment_stage import SegmentFailures

    failed = SegmentFailures("1 of 3 segments failed: XX: only 0 rows", digest_sent=True)
    task_failure_callback(_context(exception=failed))
    assert slack_connection.messages == []

    task_failure_callback(_context(exception=SegmentFailures("1 of 3 segments failed: XX: only 0 rows")))
    [message] = slack_connection.messages
    assert "XX: only 0 rows" in message.text


def test_the_dags_notifiers_send_the_failure_to_the_task_log_only(slack_connection: SlackStandIn, caplog):
    params = {"model_name": "churn", "slack_channel": "#churn-alerts"}
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        task_failure_callback(_context(params=params), notifiers=["log"])
    assert slack_connection.messages == []
    assert "alert for #churn-alerts:\nTask failed (model churn): retrain_churn.train" in caplog.text


@pytest.mark.parametrize("notifiers", [None, []], ids=["none bound", "empty: the deployment's"])
def test_without_listed_notifiers_a_failure_goes_where_the_deployment_says(slack_connection, monkeypatch, notifiers):
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack")
    task_failure_callback(_context(params={"slack_channel": "#churn-alerts"}), notifiers=notifiers)
    [message] = slack_connection.messages
    assert message.channel == "#churn-alerts"


def test_notifiers_bound_by_the_dag_win_over_the_runs_params(slack_connection: SlackStandIn, monkeypatch):
    """Every DAG binds the spec's notifiers ([]: the deployment's), so a run's conf cannot re-route alerts."""
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack")
    task_failure_callback(_context(params={"slack_channel": "#churn-alerts", "notifiers": ["log"]}), notifiers=[])
    [message] = slack_connection.messages
    assert message.channel == "#churn-alerts"
