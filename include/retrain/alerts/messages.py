"""What an alert says: pure functions that turn a failure into Slack text and Block Kit blocks.

No Airflow or Slack imports here, so the content can be unit-tested with plain objects and dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from retrain.alerts.blockkit import (
    CONTEXT_TEXT_LIMIT,
    FIELD_LIMIT,
    HEADER_LIMIT,
    MESSAGE_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    AlertMessage,
    context,
    escape_mrkdwn,
    fields,
    header,
    section,
    truncate,
)

__all__ = [
    "CONTEXT_TEXT_LIMIT",
    "DEFAULT_CHANNEL",
    "ERROR_LIMIT",
    "FIELD_LIMIT",
    "HEADER_LIMIT",
    "MESSAGE_TEXT_LIMIT",
    "SECTION_TEXT_LIMIT",
    "AlertMessage",
    "FailureReport",
    "build_log_url",
    "escape_mrkdwn",
    "failure_channel",
    "failure_report_from_context",
    "format_error",
    "format_failure_blocks",
    "format_failure_text",
    "truncate",
]

DEFAULT_CHANNEL = "#ml-alerts"
ERROR_LIMIT = 500
"""How much of an error message goes into an alert."""

TRAIN_TASK_ID = "train"
"""The task whose XCom (``{"run_id", "experiment_id", ...}``) names the run's MLflow run."""

_MISSING = "unknown"


@dataclass(frozen=True)
class FailureReport:
    """Everything a failure alert says about one failed task instance."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int | None
    error: str
    model_name: str | None = None
    log_url: str | None = None
    map_index: int | None = None
    deterministic: bool = False
    """The error is a retrain.errors.DeterministicFailure: the task failed at once, without retries."""
    mlflow_run_url: str | None = None
    """The run's MLflow run, when the ``train`` task has already returned it."""


def format_error(error: BaseException | str | None, limit: int = ERROR_LIMIT) -> str:
    """``ExceptionType: first line of the message``, cut to ``limit`` characters."""
    if error is None:
        return "unknown error (no exception in the callback context)"
    if isinstance(error, BaseException):
        message = str(error).strip()
        first_line = message.splitlines()[0].strip() if message else ""
        text = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
        if type(error).__name__ == "AirflowTaskTimeout":  # Airflow's message is only "Timeout, PID: N"
            text += (" (ran past its execution timeout: RETRAIN_TASK_TIMEOUT_MINUTES, or for training "
                     "RETRAIN_TRAIN_TIMEOUT_MINUTES / resources.max_minutes)")
    else:
        lines = str(error).strip().splitlines()
        text = lines[0].strip() if lines else ""
        text = text or "unknown error (empty message)"
    return truncate(text, limit)


def is_deterministic(error: BaseException | str | None) -> bool:
    if not isinstance(error, BaseException):
        return False
    from retrain.errors import DeterministicFailure

    return isinstance(error, DeterministicFailure)


def build_log_url(
    base_url: str, dag_id: str, run_id: str, task_id: str, try_number: int | None, map_index: int | None
) -> str:
    """The task log page in the Airflow 3 UI, built the same way as ``RuntimeTaskInstance.log_url``."""
    mapped = f"/mapped/{map_index}" if map_index is not None and map_index >= 0 else ""
    tries = f"?try_number={try_number}" if try_number is not None and try_number > 0 else ""
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}{mapped}{tries}"


def _get(source: Any, name: str) -> Any:
    """Read ``name`` from a mapping or an object; anything that fails reads as None."""
    try:
        if isinstance(source, Mapping):
            return source.get(name)
        return getattr(source, name, None)
    except Exception:
        return None


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _model_name(context: Mapping[str, Any]) -> str | None:
    params = _get(context, "params")
    name = _get(params, "model_name") if params is not None else None
    if name:
        return str(name)
    tags = _get(_get(context, "dag"), "tags") or ()
    try:
        for tag in sorted(str(t) for t in tags):
            if tag.startswith("model:"):
                return tag.split(":", 1)[1].strip() or None
    except TypeError:
        return None
    return None


def _mlflow_run_url(ti: Any) -> str | None:
    """The MLflow run link from the ``train`` task's XCom; None when it has not returned (or cannot be read)."""
    pull = _get(ti, "xcom_pull")
    if not callable(pull):
        return None
    try:
        trained = pull(task_ids=TRAIN_TASK_ID)
    except Exception:
        return None
    if not isinstance(trained, Mapping):
        return None
    from retrain.links import mlflow_run_url

    return mlflow_run_url(dict(trained)) or None


def failure_report_from_context(
    context: Mapping[str, Any], airflow_base_url: str | None = None
) -> FailureReport:
    """Read a :class:`FailureReport` from an Airflow callback context; any part of it may be missing.

    Airflow 3.3's task runner passes the template context: ``ti`` (a RuntimeTaskInstance with ``dag_id``,
    ``task_id``, ``run_id``, ``try_number``, ``map_index`` and a ``log_url`` property), ``run_id``,
    ``params``, ``dag`` and, for failures, ``exception`` (an exception, or a string when the failure was
    detected outside the task process). ``airflow_base_url`` builds a log link when ``ti`` has none.
    """
    context = context if isinstance(context, Mapping) else {}
    ti = _get(context, "ti") or _get(context, "task_instance")
    dag = _get(context, "dag")
    task = _get(context, "task")

    dag_id = _get(ti, "dag_id") or _get(dag, "dag_id") or _MISSING
    task_id = _get(ti, "task_id") or _get(task, "task_id") or _MISSING
    run_id = _get(ti, "run_id") or _get(context, "run_id") or _MISSING
    try_number = _as_int(_get(ti, "try_number"))
    if try_number is None:
        try_number = _as_int(_get(context, "try_number"))
    map_index = _as_int(_get(ti, "map_index"))

    error = _get(context, "exception")
    if error is None:
        error = _get(context, "reason")

    log_url = _get(ti, "log_url")
    if not isinstance(log_url, str) or not log_url:
        log_url = None
        if airflow_base_url and _MISSING not in (dag_id, task_id, run_id):
            log_url = build_log_url(
                airflow_base_url, str(dag_id), str(run_id), str(task_id), try_number, map_index
            )

    return FailureReport(
        dag_id=str(dag_id),
        task_id=str(task_id),
        run_id=str(run_id),
        try_number=try_number,
        error=format_error(error),
        model_name=_model_name(context),
        log_url=log_url,
        map_index=map_index if map_index is not None and map_index >= 0 else None,
        deterministic=is_deterministic(error),
        mlflow_run_url=_mlflow_run_url(ti),
    )


def _task_label(report: FailureReport) -> str:
    mapped = f"[{report.map_index}]" if report.map_index is not None else ""
    return f"{report.task_id}{mapped}"


def _try_label(report: FailureReport) -> str:
    return str(report.try_number) if report.try_number is not None else _MISSING


def _outcome(report: FailureReport) -> str:
    if report.deterministic:
        return "deterministic failure, not retried"
    return "final attempt"


def format_failure_text(report: FailureReport) -> str:
    """The plain-text fallback (notifications, screen readers, clients without Block Kit)."""
    model = f" (model {report.model_name})" if report.model_name else ""
    lines = [
        f"Task failed{model}: {report.dag_id}.{_task_label(report)}",
        f"DAG: {report.dag_id} | Task: {_task_label(report)} | Run: {report.run_id} | Try: {_try_label(report)}"
        f" ({_outcome(report)})",
        f"Error: {report.error}",
    ]
    if report.log_url:
        lines.append(f"Log: {report.log_url}")
    if report.mlflow_run_url:
        lines.append(f"MLflow run: {report.mlflow_run_url}")
    return truncate(escape_mrkdwn("\n".join(lines)), MESSAGE_TEXT_LIMIT)  # Slack reads it as mrkdwn


def report_links(report: FailureReport) -> list[str]:
    """The context line's mrkdwn parts: the task log and, when known, the MLflow run."""
    parts = [f"<{report.log_url}|View the task log>" if report.log_url else "No log link available"]
    if report.mlflow_run_url:
        parts.append(f"<{report.mlflow_run_url}|MLflow run>")
    return parts


def format_failure_blocks(report: FailureReport) -> list[dict[str, Any]]:
    """Block Kit: a header, the facts as fields, the error, and a context line with the log link."""
    facts = [("DAG", report.dag_id), ("Task", _task_label(report)), ("Run", report.run_id),
             ("Try", f"{_try_label(report)} ({_outcome(report)})")]
    if report.model_name:
        facts.insert(0, ("Model", report.model_name))
    error = escape_mrkdwn(report.error).replace("```", "'''")
    links = [*report_links(report), escape_mrkdwn(f"run {report.run_id}")]
    title = f"Task failed: {report.dag_id}.{_task_label(report)}"
    return [header(title), *fields(facts), section(f"*Error*\n```{error}```"), context(links)]


def failure_channel(context: Mapping[str, Any], default: str = DEFAULT_CHANNEL) -> str:
    """The channel a failure goes to: the DAG's ``slack_channel`` param, else ``default``."""
    return str(_get(_get(context, "params"), "slack_channel") or default)
