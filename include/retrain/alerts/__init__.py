"""Alerts: Slack messages for task failures, bad data, promotion decisions, missed deadlines and fan-out runs.

The formatting modules (blockkit, messages, data_messages, run_messages) are pure functions. ``send_alert``,
``task_failure_callback`` and ``deadline_missed_callback`` import Airflow and slack-sdk only when called, so
importing this package stays cheap (DAG files reference the callbacks at parse time).
"""

from __future__ import annotations

from retrain.alerts.blockkit import AlertMessage
from retrain.alerts.callback import task_failure_callback
from retrain.alerts.data_messages import build_failure_message, contract_failure_message, stale_data_message
from retrain.alerts.deadline import (
    deadline_alert,
    deadline_missed_callback,
    deadline_missed_message,
)
from retrain.alerts.delivery import DEFAULT_POLICY, DeliveryPolicy
from retrain.alerts.messages import (
    DEFAULT_CHANNEL,
    FailureReport,
    failure_channel,
    failure_report_from_context,
    format_error,
    format_failure_blocks,
    format_failure_text,
)
from retrain.alerts.outbox import Outbox, OutboxEntry, outbox_path
from retrain.alerts.run_messages import decision_message, digest_message
from retrain.alerts.slack import send_alert

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_POLICY",
    "AlertMessage",
    "DeliveryPolicy",
    "FailureReport",
    "Outbox",
    "OutboxEntry",
    "build_failure_message",
    "contract_failure_message",
    "deadline_alert",
    "deadline_missed_callback",
    "deadline_missed_message",
    "decision_message",
    "digest_message",
    "failure_channel",
    "failure_report_from_context",
    "format_error",
    "format_failure_blocks",
    "format_failure_text",
    "outbox_path",
    "send_alert",
    "stale_data_message",
    "task_failure_callback",
]
