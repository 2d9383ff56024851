"""The Slack token never leaves the connection: not in the Slack message, not in the log, not in the outbox,
even when the failure being reported carries it in its message."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from retrain.alerts import send_alert, task_failure_callback

from tests.retrain.alerts.helpers import FAST_POLICY, TOKEN
from tests.retrain.alerts.test_failure_callback import FakeTaskInstance
from tests.support.slack_standin import SlackStandIn

LEAKY = RuntimeError(f"POST https://hooks.example/api?token={TOKEN} failed: 401 for token {TOKEN}")


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def _context(exception: BaseException) -> dict:
    ti = FakeTaskInstance()
    return {"ti": ti, "run_id": ti.run_id, "params": {"model_name": "churn"}, "exception": exception}


def test_token_in_a_failure_is_redacted_from_the_slack_message(slack_connection: SlackStandIn, caplog) -> None:
    task_failure_callback(_context(LEAKY))
    [message] = slack_connection.messages
    payload = json.dumps(message.payload)
    assert TOKEN not in payload, "the token reached Slack"
    assert "token=***" in message.text and "for token ***" in message.text
    assert "token=***" in json.dumps(message.blocks)
    assert message.token == TOKEN  # it was used to authenticate, and only there
    assert TOKEN not in caplog.text
    assert TOKEN not in "\n".join(r.getMessage() for r in caplog.records)


def test_token_is_redacted_from_the_log_and_the_outbox_when_slack_is_down(
    slack_connection: SlackStandIn, outbox_file: Path, caplog
) -> None:
    slack_connection.fail_with_server_error(times=10)
    task_failure_callback(_context(LEAKY))
    assert slack_connection.messages == []
    queued = outbox_file.read_text()
    assert "token=***" in queued and TOKEN not in queued
    assert "Undelivered alert text" in caplog.text and TOKEN not in caplog.text
    for request in slack_connection.requests:
        assert TOKEN not in json.dumps(request.payload)


def test_token_in_text_and_blocks_passed_to_send_alert(slack_connection: SlackStandIn) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"leak {TOKEN}"}}]
    assert send_alert("#a", f"leak {TOKEN}", blocks, policy=FAST_POLICY) is True
    [message] = slack_connection.messages
    assert message.text == "leak ***"
    assert message.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "leak ***"}}]


def test_token_in_a_data_contract_failure_is_redacted(slack_connection: SlackStandIn) -> None:
    from retrain.errors import DataContractError

    error = DataContractError(
        f"Data contract 'c' failed on partition p: {TOKEN}",
        failures=[{"expectation": "e", "column": "c", "observed": f"value {TOKEN}", "partition": "p"}],
    )
    task_failure_callback(_context(error))
    [message] = slack_connection.messages
    assert TOKEN not in json.dumps(message.payload)
    assert "value ***" in json.dumps(message.blocks)
