"""Alerts as data, delivered by notifiers: what an alert says is decided once, where it goes is a notifier.

``RETRAIN_NOTIFIERS`` (settings.notifiers) names the notifiers, default ``slack``. A new channel (e-mail, a
pager) is a class with ``notify(alert) -> bool`` and one entry in NOTIFIERS. ``MemoryNotifier`` is the fake
for tests that do not care how alerts travel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    channel: str  # where the alert belongs, e.g. the spec's Slack channel
    text: str  # the whole message as plain text
    blocks: list[dict[str, Any]] | None = None  # Block Kit layout, for notifiers that render it


class Notifier(Protocol):
    def notify(self, alert: Alert) -> bool:
        """Deliver (or queue) the alert; True when it arrived. Must not raise."""


@dataclass(frozen=True)
class SlackNotifier:
    """Slack through the Airflow connection: bounded retries, token redaction, the outbox (alerts.slack)."""

    conn_id: str | None = None

    def notify(self, alert: Alert) -> bool:
        from retrain.alerts.slack import send_alert

        return send_alert(alert.channel, alert.text, alert.blocks, conn_id=self.conn_id)


class TaskLogNotifier:
    """The task log: the alert's text at WARNING."""

    def notify(self, alert: Alert) -> bool:
        log.warning("alert for %s:\n%s", alert.channel, alert.text)
        return True


@dataclass
class MemoryNotifier:
    sent: list[Alert] = field(default_factory=list)

    def notify(self, alert: Alert) -> bool:
        self.sent.append(alert)
        return True


NOTIFIERS: dict[str, type] = {"slack": SlackNotifier, "log": TaskLogNotifier}


def configured_notifiers() -> list[Notifier]:
    from retrain.settings import get_settings

    names = get_settings().notifiers
    unknown = sorted(set(names) - set(NOTIFIERS))
    if unknown:
        log.error("RETRAIN_NOTIFIERS names unknown notifiers %s (known: %s); using the task log", unknown,
                  sorted(NOTIFIERS))
        return [TaskLogNotifier()]
    return [NOTIFIERS[name]() for name in names]


def deliver(alert: Alert, notifiers: list[Notifier] | None = None) -> bool:
    """Hand the alert to every notifier (default: the configured ones). True when one delivered it.
    Never raises: a notifier that fails is logged and the others still get the alert."""
    delivered = False
    for notifier in configured_notifiers() if notifiers is None else notifiers:
        try:
            delivered = notifier.notify(alert) or delivered
        except Exception as exc:
            log.error("%s could not deliver the alert for %s: %s: %s", type(notifier).__name__, alert.channel,
                      type(exc).__name__, exc)
    return delivered
