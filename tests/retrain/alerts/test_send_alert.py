"""send_alert against a real HTTP Slack stand-in, through a real Airflow connection and the Slack provider."""

from __future__ import annotations

import json
import logging
import time

import pytest
from retrain.alerts import DeliveryPolicy, send_alert

from tests.retrain.alerts.helpers import CONN_ENV, FAST_POLICY, TOKEN
from tests.support.slack_standin import SlackStandIn, slack_connection_json

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*retrain_churn* promoted v7"}}]


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records) + caplog.text


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def test_delivers_channel_text_and_blocks(slack_connection: SlackStandIn) -> None:
    assert send_alert("#ml-alerts", "churn promoted", BLOCKS, policy=FAST_POLICY) is True
    [message] = slack_connection.messages
    assert message.channel == "#ml-alerts"
    assert message.text == "churn promoted"
    assert message.blocks == BLOCKS
    assert message.token == TOKEN


def test_default_policy_delivers_too(slack_connection: SlackStandIn) -> None:
    assert send_alert("#ml-alerts", "plain text only") is True
    assert slack_connection.messages[0].blocks is None


def test_rate_limited_then_delivered_after_retry_after(slack_connection: SlackStandIn, caplog) -> None:
    slack_connection.fail_with_rate_limit(times=1, retry_after=1)
    started = time.monotonic()
    assert send_alert("#ml-alerts", "after a 429", policy=FAST_POLICY) is True
    elapsed = time.monotonic() - started
    assert elapsed >= 1.0, "Retry-After: 1 must be honoured"
    assert elapsed < 2.0
    assert [r.status for r in slack_connection.requests] == [429, 200]
    assert [m.text for m in slack_connection.messages] == ["after a 429"]
    assert _errors(caplog) == []


def test_rate_limit_asking_too_long_a_wait_is_not_retried(slack_connection: SlackStandIn, caplog) -> None:
    slack_connection.fail_with_rate_limit(times=1, retry_after=120)
    started = time.monotonic()
    assert send_alert("#ml-alerts", "limited", policy=FAST_POLICY) is False
    assert time.monotonic() - started < 1.0
    assert len(slack_connection.requests) == 1
    [error] = _errors(caplog)
    assert "429" in error.getMessage() and "'slack_default'" in error.getMessage()


def test_server_errors_twice_then_delivered(slack_connection: SlackStandIn, caplog) -> None:
    slack_connection.fail_with_server_error(times=2)
    assert send_alert("#ml-alerts", "after two 500s", policy=FAST_POLICY) is True
    assert [r.status for r in slack_connection.requests] == [500, 500, 200]
    assert [m.text for m in slack_connection.messages] == ["after two 500s"]
    assert _errors(caplog) == [], "failed attempts that a retry recovers are not errors"


def test_server_errors_beyond_the_retries_give_up(slack_connection: SlackStandIn, caplog) -> None:
    slack_connection.fail_with_server_error(times=5)
    assert send_alert("#ml-alerts", "never arrives", policy=FAST_POLICY) is False
    assert len(slack_connection.requests) == FAST_POLICY.max_retries + 1
    assert slack_connection.messages == []
    [error] = _errors(caplog)
    assert "HTTP 500" in error.getMessage() and "'slack_default'" in error.getMessage()


def test_invalid_auth_returns_false_with_one_clear_line_and_no_token(
    slack_connection: SlackStandIn, caplog
) -> None:
    slack_connection.fail_with_api_error("invalid_auth")
    assert send_alert("#ml-alerts", "secret-free alert", BLOCKS, policy=FAST_POLICY) is False
    assert len(slack_connection.requests) == 1, "an auth error is not retried"
    [error] = _errors(caplog)
    message = error.getMessage()
    assert "'slack_default'" in message and "invalid_auth" in message
    assert "\n" not in message
    assert TOKEN not in _all_log_text(caplog)


def test_wrong_token_in_the_connection_is_invalid_auth(slack: SlackStandIn, monkeypatch, caplog) -> None:
    monkeypatch.setenv(CONN_ENV, slack_connection_json(slack.base_url, token="xoxb-revoked-0000"))
    assert send_alert("#ml-alerts", "x", policy=FAST_POLICY) is False
    assert "invalid_auth" in _errors(caplog)[0].getMessage()
    assert "xoxb-revoked-0000" not in _all_log_text(caplog)


def test_timeout_returns_false_within_the_bound(slack_connection: SlackStandIn, caplog) -> None:
    slack_connection.respond_slowly(5)
    policy = DeliveryPolicy(timeout_seconds=0.5, max_retries=2, backoff_seconds=0.05)
    started = time.monotonic()
    assert send_alert("#ml-alerts", "slow", policy=policy) is False
    assert time.monotonic() - started < 1.5
    assert len(slack_connection.requests) <= 1, "a read timeout is not retried (no duplicate posts)"
    [error] = _errors(caplog)
    assert "timeout" in error.getMessage() and "'slack_default'" in error.getMessage()
    assert TOKEN not in _all_log_text(caplog)


def test_connection_timeout_extra_is_honoured_when_smaller(slack: SlackStandIn, monkeypatch) -> None:
    monkeypatch.setenv(CONN_ENV, slack_connection_json(slack.base_url, timeout=1))
    slack.respond_slowly(5)
    started = time.monotonic()
    assert send_alert("#ml-alerts", "slow", policy=DeliveryPolicy(timeout_seconds=30)) is False
    assert time.monotonic() - started < 2.0


def test_base_url_without_trailing_slash_still_reaches_the_api(slack: SlackStandIn, monkeypatch) -> None:
    monkeypatch.setenv(CONN_ENV, slack_connection_json(slack.base_url.rstrip("/")))
    assert send_alert("#ml-alerts", "x", policy=FAST_POLICY) is True
    assert len(slack.messages) == 1


def test_unreachable_slack_returns_false(monkeypatch, caplog) -> None:
    with SlackStandIn() as gone:
        url = gone.base_url
    monkeypatch.setenv(CONN_ENV, slack_connection_json(url))
    assert send_alert("#ml-alerts", "x", policy=FAST_POLICY) is False
    [error] = _errors(caplog)
    assert "cannot reach Slack" in error.getMessage() and "'slack_default'" in error.getMessage()


def test_no_connection_logs_the_alert_text_and_returns_false(no_slack_connection, caplog) -> None:
    assert send_alert("#ml-alerts", "model churn: gate failed on auc", policy=FAST_POLICY) is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("model churn: gate failed on auc" in r.getMessage() for r in warnings)
    assert any("slack_default" in r.getMessage() for r in warnings)
    assert _errors(caplog) == []


def test_connection_without_token_is_an_error_not_a_crash(slack: SlackStandIn, monkeypatch, caplog) -> None:
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "slack", "extra": {"base_url": slack.base_url}}))
    assert send_alert("#ml-alerts", "x", policy=FAST_POLICY) is False
    [error] = _errors(caplog)
    assert "no Slack API token" in error.getMessage()
    assert slack.requests == []


def test_conn_id_comes_from_settings(slack: SlackStandIn, monkeypatch) -> None:
    monkeypatch.setenv("RETRAIN_SLACK_CONN_ID", "team_slack")
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_SLACK", slack_connection_json(slack.base_url))
    monkeypatch.delenv(CONN_ENV, raising=False)
    assert send_alert("#ml-alerts", "via team_slack", policy=FAST_POLICY) is True
    assert slack.messages[0].text == "via team_slack"


def test_worst_case_is_bounded() -> None:
    assert DeliveryPolicy().worst_case_seconds() < 60
