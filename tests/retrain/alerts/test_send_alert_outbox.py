"""send_alert with the outbox, against the real HTTP Slack stand-in: an alert Slack could not take is kept,
and the next alert delivers it first; a Slack that is still down costs one bounded attempt."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from retrain.alerts import DeliveryPolicy, Outbox, send_alert

from tests.retrain.alerts.helpers import CONN_ENV, FAST_POLICY, TOKEN
from tests.support.slack_standin import SlackStandIn, slack_connection_json

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*retrain_churn* failed"}}]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _queued(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_undelivered_alert_is_queued_with_channel_text_blocks_and_time(
    slack_connection: SlackStandIn, outbox_file: Path, caplog
) -> None:
    slack_connection.fail_with_server_error(times=FAST_POLICY.max_retries + 1)
    assert send_alert("#churn", "churn failed", BLOCKS, policy=FAST_POLICY) is False
    assert slack_connection.messages == []
    [entry] = _queued(outbox_file)
    assert entry["channel"] == "#churn" and entry["text"] == "churn failed" and entry["blocks"] == BLOCKS
    assert entry["created_at"] and "HTTP 500" in entry["last_error"]
    [error] = _errors(caplog)
    assert "NOT delivered" in error and "'slack_default'" in error and "queued in the Slack outbox" in error


def test_next_alert_delivers_the_queued_one_first(slack_connection: SlackStandIn, outbox_file: Path, caplog) -> None:
    slack_connection.fail_with_server_error(times=FAST_POLICY.max_retries + 1)
    assert send_alert("#churn", "first (Slack was down)", BLOCKS, policy=FAST_POLICY) is False

    assert send_alert("#other", "second", policy=FAST_POLICY) is True
    assert [(m.channel, m.text) for m in slack_connection.messages] == [
        ("#churn", "first (Slack was down)"),
        ("#other", "second"),
    ]
    assert slack_connection.messages[0].blocks == BLOCKS
    assert _queued(outbox_file) == []
    assert any("1 queued alert(s) delivered" in r.getMessage() for r in caplog.records)


def test_slack_still_down_queues_the_new_alert_without_another_attempt(
    slack_connection: SlackStandIn, outbox_file: Path, caplog
) -> None:
    slack_connection.fail_with_server_error(times=100)
    assert send_alert("#a", "one", policy=FAST_POLICY) is False
    requests_after_first = len(slack_connection.requests)
    assert send_alert("#a", "two", policy=FAST_POLICY) is False
    # the second call tried the oldest queued alert (with its bounded retries) and nothing more
    assert len(slack_connection.requests) - requests_after_first == FAST_POLICY.max_retries + 1
    assert [e["text"] for e in _queued(outbox_file)] == ["one", "two"]
    assert _queued(outbox_file)[0]["attempts"] == 2
    assert len(_errors(caplog)) == 2, "one error line per undelivered alert"
    assert "while resending queued alerts" in _errors(caplog)[1]

    slack_connection.clear_faults()
    assert send_alert("#a", "three", policy=FAST_POLICY) is True
    assert [m.text for m in slack_connection.messages] == ["one", "two", "three"]
    assert _queued(outbox_file) == []


def test_flush_is_bounded_by_max_flush(slack_connection: SlackStandIn, outbox_file: Path) -> None:
    box = Outbox(outbox_file)
    from retrain.alerts.outbox import OutboxEntry

    for i in range(7):
        box.append(OutboxEntry(channel="#a", text=f"queued {i}"))
    policy = DeliveryPolicy(timeout_seconds=2, max_retries=0, max_flush=3)
    assert send_alert("#a", "new", policy=policy) is True
    assert [m.text for m in slack_connection.messages] == ["queued 0", "queued 1", "queued 2", "new"]
    assert [e["text"] for e in _queued(outbox_file)] == [f"queued {i}" for i in range(3, 7)]


def test_a_queued_alert_for_an_unknown_channel_does_not_block_the_queue(
    slack_connection: SlackStandIn, outbox_file: Path, caplog
) -> None:
    from retrain.alerts.outbox import OutboxEntry

    Outbox(outbox_file).append(OutboxEntry(channel="#deleted", text="old alert"))
    slack_connection.fail_with_api_error("channel_not_found")
    assert send_alert("#a", "new", policy=FAST_POLICY) is True
    assert [m.text for m in slack_connection.messages] == ["new"]
    assert _queued(outbox_file) == []
    dead = _queued(outbox_file.with_name(outbox_file.name + ".dead"))
    assert [(d["channel"], d["text"]) for d in dead] == [("#deleted", "old alert")]
    assert any("can never be delivered" in e and "old alert" in e for e in _errors(caplog))


def test_a_new_alert_slack_will_never_take_is_not_queued(slack_connection: SlackStandIn, outbox_file: Path, caplog) -> None:
    slack_connection.fail_with_api_error("channel_not_found")
    assert send_alert("#nope", "lost channel", policy=FAST_POLICY) is False
    assert _queued(outbox_file) == []
    [error] = _errors(caplog)
    assert "channel_not_found" in error and "dead-letter" in error
    assert "lost channel" in caplog.text, "the alert text is in the log"


def test_invalid_auth_queues_the_alert_with_one_clear_error_naming_the_connection(
    slack_connection: SlackStandIn, outbox_file: Path, caplog
) -> None:
    slack_connection.fail_with_api_error("invalid_auth", times=5)
    assert send_alert("#a", "one", policy=FAST_POLICY) is False
    assert send_alert("#a", "two", policy=FAST_POLICY) is False
    errors = _errors(caplog)
    assert len(errors) == 2
    for error in errors:
        assert "'slack_default'" in error and "invalid_auth" in error and "fix the token" in error
        assert "\n" not in error
    assert len(slack_connection.requests) == 2, "an auth error is never retried"
    assert [e["text"] for e in _queued(outbox_file)] == ["one", "two"]
    assert TOKEN not in caplog.text


def test_slack_unreachable_then_back(monkeypatch, outbox_file: Path) -> None:
    with SlackStandIn() as gone:
        url = gone.base_url
    monkeypatch.setenv(CONN_ENV, slack_connection_json(url))
    assert send_alert("#a", "while down", policy=FAST_POLICY) is False
    assert [e["text"] for e in _queued(outbox_file)] == ["while down"]
    assert "cannot reach Slack" in _queued(outbox_file)[0]["last_error"]

    with SlackStandIn() as back:
        monkeypatch.setenv(CONN_ENV, slack_connection_json(back.base_url))
        assert send_alert("#a", "after", policy=FAST_POLICY) is True
        assert [m.text for m in back.messages] == ["while down", "after"]


def test_slow_slack_alert_is_queued_at_least_once(slack_connection: SlackStandIn, outbox_file: Path) -> None:
    slack_connection.respond_slowly(3)
    policy = DeliveryPolicy(timeout_seconds=0.5, max_retries=1, backoff_seconds=0.05)
    assert send_alert("#a", "slow", policy=policy) is False
    assert [e["text"] for e in _queued(outbox_file)] == ["slow"], "a timed-out alert is kept (at-least-once)"


def test_connection_without_token_queues_the_alert(slack: SlackStandIn, monkeypatch, outbox_file: Path) -> None:
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "slack", "extra": {"base_url": slack.base_url}}))
    assert send_alert("#a", "no token yet", policy=FAST_POLICY) is False
    assert [e["text"] for e in _queued(outbox_file)] == ["no token yet"]
    assert slack.requests == []


def test_without_a_connection_nothing_is_queued(no_slack_connection, outbox_file: Path) -> None:
    assert send_alert("#a", "dev machine", policy=FAST_POLICY) is False
    assert not outbox_file.exists()


def test_outbox_that_cannot_be_written_still_never_raises(slack_connection: SlackStandIn, tmp_path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    slack_connection.fail_with_server_error(times=FAST_POLICY.max_retries + 1)
    assert send_alert("#a", "x", policy=FAST_POLICY, outbox=Outbox(blocker / "outbox.jsonl")) is False
    [error] = _errors(caplog)
    assert "could not queue it in the outbox" in error
    assert "Undelivered alert text:\nx" in caplog.text


def test_outbox_false_disables_it(slack_connection: SlackStandIn, outbox_file: Path) -> None:
    slack_connection.fail_with_server_error(times=FAST_POLICY.max_retries + 1)
    assert send_alert("#a", "x", policy=FAST_POLICY, outbox=False) is False
    assert not outbox_file.exists()


def test_worst_case_total_is_bounded() -> None:
    policy = DeliveryPolicy()
    assert policy.worst_case_seconds() < 60
    assert policy.worst_case_total_seconds() < 150
    assert DeliveryPolicy(max_flush=0).worst_case_total_seconds() == policy.worst_case_seconds()
