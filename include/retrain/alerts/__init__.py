"""Alerts: Slack messages for task failures, bad data, promotion decisions, missed deadlines and fan-out runs.

The formatting modules (blockkit, messages, data_messages, run_messages) are pure functions; import them, and
everything else, from its module. Here are the few names operators and DAG files use (docs/alerts.md):
``send_alert`` and ``task_failure_callback`` import Airflow and slack-sdk only when called, so importing this
package stays cheap (DAG files reference the callback at parse time).
"""

from __future__ import annotations

from retrain.alerts.callback import task_failure_callback
from retrain.alerts.delivery import DeliveryPolicy
from retrain.alerts.outbox import Outbox, outbox_path
from retrain.alerts.slack import send_alert

__all__ = ["DeliveryPolicy", "Outbox", "outbox_path", "send_alert", "task_failure_callback"]
