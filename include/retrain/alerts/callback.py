"""The Airflow ``on_failure_callback``: the failed task's alert, laid out by its error, sent by the notifiers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from retrain.alerts.data_messages import build_failure_message
from retrain.alerts.messages import failure_channel, failure_report_from_context
from retrain.alerts.notifiers import Alert, deliver, notifiers_for

log = logging.getLogger(__name__)


def airflow_base_url() -> str | None:
    try:
        from retrain.settings import get_settings

        return get_settings().airflow_base_url
    except Exception:
        return None


def task_failure_callback(context: Mapping[str, Any], notifiers: list[str] | None = None,
                          channel: str | None = None) -> None:
    """Airflow ``on_failure_callback``: post the failed task's DAG, task, model, run, try, cause and links.

    The layout follows the error: a broken data contract (expectations, columns, partition, Data Docs),
    stale data (newest partition, its age and the age allowed), or any other failure. Goes to ``channel`` by
    ``notifiers`` (None or []: the deployment's), which every DAG binds from its spec, so a run's conf cannot
    change them; without a bound channel, to ``params["slack_channel"]`` (default ``#ml-alerts``). Never raises,
    whatever the context holds.
    """
    try:
        ctx = context if isinstance(context, Mapping) else {}
        error = ctx.get("exception")
        if getattr(error, "digest_sent", False):  # a fan-out report: its digest already named the failures
            log.info("No failure alert: the run's digest already reported it (%s)", error)
            return
        report = failure_report_from_context(context, airflow_base_url=airflow_base_url())
        alert = build_failure_message(report, error)
        deliver(Alert(channel or failure_channel(context), alert.text, alert.blocks), notifiers_for(notifiers or None))
    except Exception as exc:  # a failure alert must never add a failure of its own
        log.error("Could not build or send the task failure alert: %s: %s", type(exc).__name__, exc)
