"""Alerts as data, delivered by the notifiers a spec's ``alerts.notifiers`` names (else RETRAIN_NOTIFIERS). A new
destination is a class with ``notify(alert) -> bool`` (never raising), in NOTIFIERS and ``AlertSpec.notifiers``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
        from retrain.alerts.blockkit import unescape_mrkdwn

        log.warning("alert for %s:\n%s", alert.channel, unescape_mrkdwn(alert.text))
        return True


NOTIFIERS: dict[str, type] = {"slack": SlackNotifier, "log": TaskLogNotifier}


def notifiers_for(names: Sequence[str] | None) -> list[Notifier]:
    """The notifiers a spec lists (``alerts.notifiers``); None: the deployment's RETRAIN_NOTIFIERS. A spec
    refuses unknown names; from the environment they are logged, and none left means the task log."""
    if names is None:
        from retrain.settings import get_settings

        names = get_settings().notifiers
    if unknown := sorted(set(names) - set(NOTIFIERS)):
        log.error("unknown notifiers %s (known: %s)", unknown, sorted(NOTIFIERS))
    return [NOTIFIERS[name]() for name in names if name in NOTIFIERS] or [TaskLogNotifier()]


def deliver(alert: Alert, notifiers: Sequence[Notifier]) -> bool:
    """Hand the alert to every notifier (:func:`notifiers_for`); True when one delivered it. Never raises:
    a failing notifier is logged and the others still get the alert."""
    delivered = False
    for notifier in notifiers:
        try:
            delivered = notifier.notify(alert) or delivered
        except Exception as exc:
            log.error("%s could not deliver the alert for %s: %s: %s", type(notifier).__name__, alert.channel,
                      type(exc).__name__, exc)
    return delivered
