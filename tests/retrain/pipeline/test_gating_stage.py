"""The gate's own alert (an unusable champion) goes to the notifiers the spec lists: the task log only, or Slack
by default. The tampering itself is tests/security/test_artifacts.py's; here the champion just fails to load."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from retrain.config import load_spec
from retrain.errors import ArtifactIntegrityError
from retrain.pipeline import gating_stage

from tests.retrain.alerts.helpers import with_alerts
from tests.retrain.orchestration.helpers import SPEC
from tests.support.slack_standin import SlackStandIn, slack_connection_json

TOLD = "champion version 1 cannot be used: MLmodel changed since training"


@pytest.fixture(autouse=True)
def tampered_champion(monkeypatch):
    def refuse(client, name, version, holdout, spec):
        raise ArtifactIntegrityError("MLmodel changed since training")

    monkeypatch.setattr(gating_stage, "_predict", refuse)


@pytest.fixture
def slack_connection(monkeypatch, tmp_path) -> Iterator[SlackStandIn]:
    monkeypatch.setenv("RETRAIN_SLACK_OUTBOX", str(tmp_path / "outbox.jsonl"))
    monkeypatch.delenv("RETRAIN_SLACK_CONN_ID", raising=False)
    with SlackStandIn() as standin:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_DEFAULT", slack_connection_json(standin.base_url))
        yield standin


def test_a_spec_listing_the_log_is_told_of_an_unusable_champion_in_the_task_log_only(
    slack_connection: SlackStandIn, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack")  # the deployment's default; the spec overrides it
    loaded = with_alerts(load_spec(SPEC), notifiers=["log"], slack_channel="#gate")
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        assert gating_stage._champion_predictions(loaded, None, "1", "2", None) == (
            None, "MLmodel changed since training")
    assert slack_connection.messages == []
    assert f"alert for #gate:\n{loaded.spec.name}: {TOLD}" in caplog.text


def test_by_default_slack_is_told(slack_connection: SlackStandIn, monkeypatch) -> None:
    monkeypatch.delenv("RETRAIN_NOTIFIERS", raising=False)
    gating_stage._champion_predictions(with_alerts(load_spec(SPEC), slack_channel="#gate"), None, "1", "2", None)
    [message] = slack_connection.messages
    assert message.channel == "#gate" and TOLD in message.text
