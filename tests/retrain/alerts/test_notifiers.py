"""Alerts as data delivered by notifiers: Slack is one, the task log another, chosen by the spec's
``alerts.notifiers``, else by the deployment (RETRAIN_NOTIFIERS)."""

from __future__ import annotations

import logging

from retrain.alerts.notifiers import Alert, deliver, notifiers_for
from retrain.pipeline.notify_stage import notify_outcome

from tests.retrain.alerts.helpers import with_alerts
from tests.retrain.alerts.test_notify import EVALUATION, TRAINED, _loaded
from tests.support.memory_notifier import MemoryNotifier
from tests.support.slack_standin import SlackStandIn

OUTCOME = {"promoted": True, "version": "2", "previous_champion": "1"}


def test_the_task_log_notifier_takes_the_alert_instead_of_slack(slack_connection: SlackStandIn, monkeypatch, caplog):
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "log")
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        text = notify_outcome(_loaded(), "manual__1", TRAINED, EVALUATION, OUTCOME)
    assert slack_connection.messages == []
    assert f"alert for #esmm-alerts:\n{text}" in caplog.text


def test_slack_and_the_log_both_get_it_when_both_are_named(slack_connection: SlackStandIn, monkeypatch, caplog):
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack, log")
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        text = notify_outcome(_loaded(), "manual__2", TRAINED, EVALUATION, OUTCOME)
    assert [m.text for m in slack_connection.messages] == [text] and "alert for #esmm-alerts" in caplog.text


def test_a_failing_notifier_does_not_stop_the_others(caplog):
    class Broken:
        def notify(self, alert: Alert) -> bool:
            raise ConnectionError("pager down")

    memory = MemoryNotifier()
    alert = Alert("#ml-alerts", "churn rejected")
    assert deliver(alert, [Broken(), memory]) is True
    assert memory.sent == [alert] and "Broken could not deliver the alert for #ml-alerts: ConnectionError" in caplog.text


def test_an_unknown_notifier_name_falls_back_to_the_task_log(monkeypatch, caplog):
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "pigeon")
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        assert deliver(Alert("#ml-alerts", "churn promoted"), notifiers_for(None)) is True
    assert "unknown notifiers ['pigeon']" in caplog.text and "churn promoted" in caplog.text


def test_a_spec_listing_the_log_keeps_its_alerts_out_of_slack_whatever_the_deployment_says(
    slack_connection: SlackStandIn, monkeypatch, caplog
):
    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack")
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        text = notify_outcome(with_alerts(_loaded(), notifiers=["log"]), "manual__3", TRAINED, EVALUATION, OUTCOME)
    assert slack_connection.messages == []
    assert f"alert for #esmm-alerts:\n{text}" in caplog.text


def test_a_spec_without_notifiers_keeps_slack(slack_connection: SlackStandIn, monkeypatch, caplog):
    monkeypatch.delenv("RETRAIN_NOTIFIERS", raising=False)
    assert _loaded().spec.alerts.notifiers is None
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        text = notify_outcome(_loaded(), "manual__4", TRAINED, EVALUATION, OUTCOME)
    assert [m.text for m in slack_connection.messages] == [text] and "alert for" not in caplog.text


def test_the_task_log_shows_the_alert_as_written_not_as_slack_escapes_it(caplog):
    from retrain.alerts.blockkit import escape_mrkdwn
    from retrain.alerts.notifiers import TaskLogNotifier

    error = "type changed 'AGE' int64 -> double & label ' >50K' <unparsed>"
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        TaskLogNotifier().notify(Alert("#ml-alerts", f"Error: {escape_mrkdwn(error)}"))
    assert f"Error: {error}" in caplog.text and "&gt;" not in caplog.text
