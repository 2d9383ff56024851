"""Alerts as data, delivered by notifiers. ``RETRAIN_NOTIFIERS`` names them (default ``slack``); a new
destination is a class with ``notify(alert) -> bool`` (never raising) and one entry in NOTIFIERS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    channel: str  # where the alert belongs, e.g. the spec's Slack channel
    text: str
    blocks: list[dict[str, Any]] | None = None  # Block Kit, for notifiers that render it


class Notifier(Protocol):
    def notify(self, alert: Alert) -> bool: ...


class SlackNotifier:
    """Slack through the Airflow connection: bounded retries, token redaction, the outbox (alerts.slack)."""

    def notify(self, alert: Alert) -> bool:
        from retrain.alerts.slack import send_alert

        return send_alert(alert.channel, alert.text, alert.blocks)


class TaskLogNotifier:
    def notify(self, alert: Alert) -> bool:
        log.warning("alert for %s:\n%s", alert.channel, alert.text)
        return True


NOTIFIERS: dict[str, type] = {"slack": SlackNotifier, "log": TaskLogNotifier}


def deliver(alert: Alert, notifiers: list[Notifier] | None = None) -> bool:
    """Hand the alert to every notifier (default: the configured ones); True when one delivered it. Never
    raises: a failing notifier is logged and the others still get the alert; unknown names mean the task log."""
    if notifiers is None:
        from retrain.settings import get_settings

        names = get_settings().notifiers
        if unknown := sorted(set(names) - set(NOTIFIERS)):
            log.error("RETRAIN_NOTIFIERS: unknown notifiers %s (known: %s)", unknown, sorted(NOTIFIERS))
        notifiers = [NOTIFIERS[name]() for name in names if name in NOTIFIERS] or [TaskLogNotifier()]
    delivered = False
    for notifier in notifiers:
        try:
            delivered = notifier.notify(alert) or delivered
        except Exception as exc:
            log.error("%s could not deliver the alert for %s: %s: %s", type(notifier).__name__, alert.channel,
                      type(exc).__name__, exc)
    return delivered
