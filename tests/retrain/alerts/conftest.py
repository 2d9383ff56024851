"""Fixtures for the alert tests: a running Slack stand-in and an Airflow Slack connection pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.retrain.alerts.helpers import CONN_ENV, TOKEN
from tests.support.slack_standin import SlackStandIn, slack_connection_json


@pytest.fixture(autouse=True, scope="session")
def _airflow_logging_configured() -> None:
    """Let Airflow configure logging once, before any test: it replaces the handlers the first time it is
    imported, which would otherwise drop the log records ``caplog`` collects in whichever test runs first."""
    import airflow.providers.slack.hooks.slack  # noqa: F401


@pytest.fixture(autouse=True)
def outbox_file(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own empty Slack outbox (the default one lives in the session's shared state)."""
    path = tmp_path / "slack-outbox" / "outbox.jsonl"
    monkeypatch.setenv("RETRAIN_SLACK_OUTBOX", str(path))
    return path


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def slack_connection(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> SlackStandIn:
    """The standard ``slack_default`` connection, supplied the way production can: an env var."""
    monkeypatch.delenv("RETRAIN_SLACK_CONN_ID", raising=False)
    monkeypatch.setenv(CONN_ENV, slack_connection_json(slack.base_url, token=TOKEN))
    return slack


@pytest.fixture
def no_slack_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETRAIN_SLACK_CONN_ID", raising=False)
    monkeypatch.delenv(CONN_ENV, raising=False)
