"""Alerts: Slack messages for task failures and pipeline summaries.

``send_alert`` and ``task_failure_callback`` import Airflow and slack-sdk only when called, so importing
this package stays cheap (DAG files reference the callback at parse time).
"""

from __future__ import annotations

from retrain.alerts.messages import (
    DEFAULT_CHANNEL,
    FailureReport,
    failure_channel,
    failure_report_from_context,
    format_error,
    format_failure_blocks,
    format_failure_text,
)
from retrain.alerts.slack import DEFAULT_POLICY, DeliveryPolicy, send_alert, task_failure_callback

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_POLICY",
    "DeliveryPolicy",
    "FailureReport",
    "failure_channel",
    "failure_report_from_context",
    "format_error",
    "format_failure_blocks",
    "format_failure_text",
    "send_alert",
    "task_failure_callback",
]
