"""A run that misses its deadline: Airflow 3.3's ``DeadlineAlert`` (the successor of SLAs) sends an alert.

The deadline comes from the model spec (``alerts.deadline_minutes``) and counts from when the run was
queued (``DeadlineReference.DAGRUN_QUEUED_AT``). When a run has not finished by then, the scheduler hands
:func:`deadline_alert`'s callback (the Airflow notifier, ``RetrainSlackNotifier("deadline")``) to the
**triggerer** as an ``AsyncCallback``, which sends one alert to the spec's notifiers. The triggerer rather than the executor (a
``SyncCallback``) on purpose: a run is often late because the executor is busy, and a callback waiting for an executor slot would be late too (checked on a
LocalExecutor with one slot: the AsyncCallback alert arrives while the run's task still holds the slot).
A run that finishes in time has its deadline pruned, so nothing is sent.

The message layout (:func:`deadline_missed_message`) is a pure function; :func:`deadline_missed_callback`
sends it; :func:`deadline_alert` builds the Airflow object (Airflow is imported only when it is called).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from retrain.alerts.blockkit import AlertMessage, context, fields, header, link, message, section

log = logging.getLogger(__name__)

def run_url(base_url: str | None, dag_id: str, run_id: str) -> str | None:
    """The DAG run page in the Airflow 3 UI."""
    if not base_url or not dag_id or not run_id:
        return None
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value) if value else "unknown"


def _minutes(value: Any) -> str:
    try:
        return f"{float(value):g} min"
    except (TypeError, ValueError):
        return "unknown"


def deadline_missed_message(
    *,
    dag_id: str,
    run_id: str,
    model_name: str | None,
    deadline_minutes: float | None,
    queued_at: Any = None,
    deadline_time: Any = None,
    state: str | None = None,
    airflow_run_url: str | None = None,
) -> AlertMessage:
    subject = model_name or dag_id
    allowed = _minutes(deadline_minutes)
    text_lines = [
        f"Deadline missed: {subject} run {run_id} had not finished {allowed} after it was queued "
        f"(queued {_when(queued_at)}, deadline {_when(deadline_time)}, state {state or 'unknown'}).",
        f"DAG: {dag_id} | Run: {run_id}",
    ]
    if airflow_run_url:
        text_lines.append(f"Run: {airflow_run_url}")
    facts = [
        ("DAG", dag_id),
        ("Run", run_id),
        ("Queued at", _when(queued_at)),
        ("Deadline", _when(deadline_time)),
        ("Allowed", f"{allowed} from queued"),
        ("State at the deadline", state or "unknown"),
    ]
    if model_name:
        facts.insert(0, ("Model", model_name))
    blocks = [
        header(f"Deadline missed: {subject}"),
        section(
            f"The run had not finished *{allowed}* after it was queued. It keeps running; this is a "
            "warning that results (a new champion, alerts downstream) are late."
        ),
        *fields(facts),
        context([link(airflow_run_url, "Open the run in Airflow") if airflow_run_url else "no run link",
                 "deadline from the model spec (alerts.deadline_minutes)"]),
    ]
    return message("\n".join(text_lines), blocks)


def deadline_missed_callback(
    context: Mapping[str, Any] | None = None,
    *,
    model_name: str | None = None,
    slack_channel: str | None = None,
    deadline_minutes: float | None = None,
    notifiers: list[str] | None = None,
    **_: Any,
) -> None:
    """Post the missed-deadline alert. ``context`` is what the scheduler attaches to a missed deadline:
    ``{"dag_run": <DAGRunResponse as JSON>, "deadline": {"id", "deadline_time"}}``. Never raises.
    Usable as a ``SyncCallback`` target too."""
    try:
        from retrain.alerts.callback import airflow_base_url
        from retrain.alerts.messages import DEFAULT_CHANNEL
        from retrain.alerts.notifiers import Alert, deliver, notifiers_for

        ctx = context if isinstance(context, Mapping) else {}
        dag_run = ctx.get("dag_run") if isinstance(ctx.get("dag_run"), Mapping) else {}
        deadline = ctx.get("deadline") if isinstance(ctx.get("deadline"), Mapping) else {}
        dag_id = str(dag_run.get("dag_id") or "unknown")
        run_id = str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "unknown")
        alert = deadline_missed_message(
            dag_id=dag_id,
            run_id=run_id,
            model_name=model_name,
            deadline_minutes=deadline_minutes,
            queued_at=dag_run.get("queued_at"),
            deadline_time=deadline.get("deadline_time"),
            state=dag_run.get("state"),
            airflow_run_url=run_url(airflow_base_url(), dag_id, run_id),
        )
        deliver(Alert(slack_channel or DEFAULT_CHANNEL, alert.text, alert.blocks), notifiers_for(notifiers))
    except Exception as exc:  # a deadline alert must never fail on its own account
        log.error("Could not build or send the deadline alert: %s: %s", type(exc).__name__, exc)


def deadline_alert(model_name: str, slack_channel: str, deadline_minutes: float | None, *, callback: Any,
                   **callback_kwargs: Any):
    """The DAG's ``deadline=``: a ``DeadlineAlert`` ``deadline_minutes`` after the run was queued whose
    ``AsyncCallback`` (run on the triggerer) is ``callback`` (a class or function, or its import path) with
    the model, channel and minutes plus ``callback_kwargs``; None when the spec sets no deadline."""
    if not deadline_minutes:
        return None
    from datetime import timedelta

    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=float(deadline_minutes)),
        callback=AsyncCallback(callback, kwargs={
            **callback_kwargs, "model_name": model_name, "slack_channel": slack_channel,
            "deadline_minutes": float(deadline_minutes),
        }),
        name=f"{model_name} deadline",
    )
