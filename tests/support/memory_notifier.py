"""The in-memory notifier for tests: a ``retrain.alerts.notifiers.Notifier`` that keeps what it was given."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrain.alerts.notifiers import Alert


@dataclass
class MemoryNotifier:
    sent: list[Alert] = field(default_factory=list)

    def notify(self, alert: Alert) -> bool:
        self.sent.append(alert)
        return True
