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
