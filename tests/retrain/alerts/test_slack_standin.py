"""The Slack stand-in itself answers like the Web API, so the alert tests rest on something that holds."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.slack_standin import DEFAULT_TOKEN, SlackStandIn, running_slack_standin


def _call(
    base_url: str, method: str, *, token: str | None = DEFAULT_TOKEN, json_body=None, form=None, timeout=5
):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json;charset=utf-8"
    else:
        data = urllib.parse.urlencode(form or {}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(base_url + method, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            parsed = body.decode()
        return exc.code, dict(exc.headers), parsed


def test_base_url_is_local_api_root(slack: SlackStandIn) -> None:
    assert slack.base_url.startswith("http://127.0.0.1:")
    assert slack.base_url.endswith("/api/")
    assert slack.port > 0


def test_auth_test_accepts_the_valid_token_and_rejects_others(slack: SlackStandIn) -> None:
    assert _call(slack.base_url, "auth.test")[2]["ok"] is True
    assert _call(slack.base_url, "auth.test", token="xoxb-wrong")[2] == {"ok": False, "error": "invalid_auth"}
    assert _call(slack.base_url, "auth.test", token=None)[2] == {"ok": False, "error": "not_authed"}


def test_post_message_records_json_and_form_bodies(slack: SlackStandIn) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    status, _, body = _call(
        slack.base_url, "chat.postMessage", json_body={"channel": "#a", "text": "one", "blocks": blocks}
    )
    assert status == 200 and body["ok"] is True and body["channel"] == "#a"
    _call(
        slack.base_url,
        "chat.postMessage",
        form={"channel": "#b", "text": "two", "blocks": json.dumps(blocks)},
    )
    # the legacy token-in-body form is read too
    _call(
        slack.base_url,
        "chat.postMessage",
        token=None,
        form={"channel": "#c", "text": "three", "token": DEFAULT_TOKEN},
    )

    messages = slack.messages
    assert [(m.channel, m.text) for m in messages] == [("#a", "one"), ("#b", "two"), ("#c", "three")]
    assert messages[0].blocks == blocks and messages[1].blocks == blocks and messages[2].blocks is None
    assert {m.token for m in messages} == {DEFAULT_TOKEN}
    assert len({m.ts for m in messages}) == 3


def test_post_message_validates_like_slack(slack: SlackStandIn) -> None:
    assert (
        _call(slack.base_url, "chat.postMessage", json_body={"text": "x"})[2]["error"] == "channel_not_found"
    )
    assert _call(slack.base_url, "chat.postMessage", json_body={"channel": "#a"})[2]["error"] == "no_text"
    assert _call(slack.base_url, "chat.nope", json_body={})[0] == 404
    assert slack.messages == []


def test_faults_apply_to_the_next_calls_in_order(slack: SlackStandIn) -> None:
    slack.fail_with_rate_limit(times=1, retry_after=7)
    slack.fail_with_server_error(times=1, status=503)
    slack.fail_with_api_error("invalid_auth")
    assert slack.pending_faults == 3
    msg = {"channel": "#a", "text": "x"}

    status, headers, body = _call(slack.base_url, "chat.postMessage", json_body=msg)
    assert status == 429 and headers["Retry-After"] == "7" and body["error"] == "ratelimited"
    assert _call(slack.base_url, "chat.postMessage", json_body=msg)[0] == 503
    assert _call(slack.base_url, "chat.postMessage", json_body=msg)[2] == {
        "ok": False,
        "error": "invalid_auth",
    }
    assert slack.messages == []
    assert _call(slack.base_url, "chat.postMessage", json_body=msg)[2]["ok"] is True
    assert len(slack.messages) == 1
    assert [r.fault for r in slack.requests] == ["rate_limit", "server_error", "api_error", None]
    assert [r.status for r in slack.requests] == [429, 503, 200, 200]


def test_slow_response_delays_then_posts(slack: SlackStandIn) -> None:
    slack.respond_slowly(0.3)
    started = time.monotonic()
    assert (
        _call(slack.base_url, "chat.postMessage", json_body={"channel": "#a", "text": "x"})[2]["ok"] is True
    )
    assert time.monotonic() - started >= 0.3
    assert slack.requests[0].fault == "slow"


def test_slow_response_times_out_a_client_and_stop_does_not_wait() -> None:
    with running_slack_standin() as standin:
        standin.respond_slowly(30)
        with pytest.raises(TimeoutError):
            _call(standin.base_url, "auth.test", timeout=0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    with pytest.raises(RuntimeError):
        _ = standin.base_url


def test_reset_forgets_everything(slack: SlackStandIn) -> None:
    _call(slack.base_url, "chat.postMessage", json_body={"channel": "#a", "text": "x"})
    slack.fail_with_server_error(times=2)
    slack.reset()
    assert slack.messages == [] and slack.requests == [] and slack.pending_faults == 0


def test_any_token_when_valid_tokens_is_none() -> None:
    with SlackStandIn(valid_tokens=None) as standin:
        assert _call(standin.base_url, "auth.test", token="xoxb-anything")[2]["ok"] is True
