"""Alerts about the data a run was given: a broken data contract, or data too stale to train on.

Both are deterministic failures (the task fails at once, without retries), and both say what someone has to
look at: which expectations on which columns of which partition, or which partition is the newest and how
old it was allowed to be. Pure functions over a :class:`FailureReport` and the exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retrain.alerts import blockkit as bk
from retrain.alerts.messages import FailureReport, format_failure_blocks, format_failure_text, report_links

OBSERVED_LIMIT = 300
"""How much of one expectation's ``observed`` text goes into a message."""
TEXT_FAILURES = 10
"""How many failed expectations the plain-text fallback lists."""

_PARTITION = re.compile(r"failed on partition (?P<partition>.+?): ")


@dataclass(frozen=True)
class ContractFailure:
    """What failed in a data contract, read from a ``DataContractError`` (or its parts)."""

    message: str
    failures: tuple[Mapping[str, Any], ...]
    partition: str | None = None
    suite: str | None = None
    data_docs_url: str | None = None

    @classmethod
    def from_error(cls, error: BaseException) -> ContractFailure:
        message = str(error)
        failures = tuple(f for f in (getattr(error, "failures", None) or []) if isinstance(f, Mapping))
        partition = next((str(f["partition"]) for f in failures if f.get("partition")), None)
        if partition is None:
            found = _PARTITION.search(message)
            partition = found.group("partition") if found else None
        suite = next((str(f["suite"]) for f in failures if f.get("suite")), None)
        url = getattr(error, "data_docs_url", None) or next(
            (str(f["data_docs_url"]) for f in failures if f.get("data_docs_url")), None
        )
        return cls(message, failures, partition, suite, url or None)

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for failure in self.failures:
            for name in str(failure.get("column") or "").split(", "):
                if name:
                    seen.setdefault(name)
        return list(seen)


def _failure_line(failure: Mapping[str, Any], markup: bool) -> str:
    expectation = str(failure.get("expectation") or "expectation")
    column = failure.get("column")
    observed = bk.truncate(" ".join(str(failure.get("observed") or "").split()), OBSERVED_LIMIT)
    if markup:
        where = f" on {bk.code(str(column))}" if column else " (table)"
        return f"{bk.code(expectation)}{where}: {bk.escape_mrkdwn(observed)}"
    where = f" on column {column}" if column else " (table)"
    return f"{expectation}{where}: {observed}"


def _task_fields(report: FailureReport) -> list[tuple[str, str]]:
    try_label = str(report.try_number) if report.try_number is not None else "unknown"
    pairs = [("DAG", report.dag_id), ("Task", report.task_id), ("Run", report.run_id), ("Try", try_label)]
    if report.model_name:
        pairs.insert(0, ("Model", report.model_name))
    return pairs


def _task_line(report: FailureReport) -> str:
    try_label = str(report.try_number) if report.try_number is not None else "unknown"
    return (
        f"DAG: {report.dag_id} | Task: {report.task_id} | Run: {report.run_id} | Try: {try_label} "
        "(deterministic failure, not retried)"
    )


def _error_type(report: FailureReport) -> str:
    """The exception's class name, from the report's one-line cause (``Type: message``)."""
    head = report.error.split(":", 1)[0].strip()
    return head if head and " " not in head else "error"


def _subject(report: FailureReport) -> str:
    return report.model_name or report.dag_id


# What a blocked partition stops, by the task that checked it (batch scoring checks the partition it scores).
_NOT_TRAINED = "the model is not retrained or promoted"
_CONSEQUENCE = {"score_newest_partition": "no predictions landed for it (those already landed stay)"}


def contract_failure_message(report: FailureReport, error: BaseException | ContractFailure) -> bk.AlertMessage:
    """Which expectations failed, on which columns, in which partition, with the Data Docs link if there is one."""
    contract = error if isinstance(error, ContractFailure) else ContractFailure.from_error(error)
    failures = contract.failures
    count = len(failures)
    partition = contract.partition or "unknown partition"
    columns = contract.columns

    text_lines = [
        f"Data contract failed for {_subject(report)} on {partition}: "
        f"{count or 'unknown number of'} blocking expectation(s); {_CONSEQUENCE.get(report.task_id, _NOT_TRAINED)}.",
        _task_line(report),
    ]
    if columns:
        text_lines.append("Columns: " + ", ".join(columns))
    text_lines += [f"- {_failure_line(f, markup=False)}" for f in failures[:TEXT_FAILURES]]
    if count > TEXT_FAILURES:
        text_lines.append(f"- … and {count - TEXT_FAILURES} more")
    text_lines.append(f"Error: {report.error}")
    if contract.data_docs_url:
        text_lines.append(f"Data Docs: {contract.data_docs_url}")
    if report.log_url:
        text_lines.append(f"Log: {report.log_url}")

    facts = [*_task_fields(report), ("Partition", partition)]
    if contract.suite:
        facts.append(("Suite", contract.suite))
    if columns:
        facts.append(("Columns", ", ".join(columns)))
    blocks = [bk.header(f"Data contract failed: {_subject(report)}"), *bk.fields(facts)]
    if failures:
        blocks.append(
            bk.bullet_section(
                f"{count} blocking expectation{'s' if count != 1 else ''} failed",
                [_failure_line(f, markup=True) for f in failures],
            )
        )
    else:
        blocks.append(bk.section("*Error*\n" + bk.escape_mrkdwn(report.error)))
    docs = (
        bk.link(contract.data_docs_url, "Data Docs")
        if contract.data_docs_url
        else "Data Docs: not built for this run"
    )
    blocks.append(
        bk.context(
            [*report_links(report), docs, f"{bk.escape_mrkdwn(_error_type(report))}: deterministic failure, not "
             "retried, champion unchanged"]
        )
    )
    return bk.message("\n".join(text_lines), blocks)


def _hours(value: float | None) -> str:
    return f"{value:.1f} h" if isinstance(value, int | float) else "unknown"


_STALE_REASONS = {
    "no_partition": "no complete partition in the training window",
    "too_old": "newest partition is older than allowed",
    "empty": "newest partition holds no data file",
    "too_few_rows": "newest partition has too few rows",
    "incomplete_partition": "the announced partition has no completion marker",
}


def stale_data_message(report: FailureReport, error: BaseException) -> bk.AlertMessage:
    """The newest partition found, its age and the age allowed (``StaleDataError``'s attributes)."""
    reason_code = getattr(error, "reason", None)
    newest = getattr(error, "newest_partition", None) or "none found"
    age = getattr(error, "age_hours", None)
    max_age = getattr(error, "max_age_hours", None)
    rows, min_rows = getattr(error, "rows", None), getattr(error, "min_rows", None)
    dataset = getattr(error, "dataset", None)
    as_of = getattr(error, "as_of", None)
    allowed = f"{max_age:g} h" if isinstance(max_age, int | float) else "unknown"
    reason = _STALE_REASONS.get(str(reason_code), "data not fresh enough to retrain on")
    detail = " ".join(str(error).split())

    text_lines = [
        f"Stale data for {_subject(report)}: {reason}. Newest partition: {newest}, age {_hours(age)}, "
        f"allowed {allowed}.",
        _task_line(report),
        f"Error: {report.error}",
    ]
    if report.log_url:
        text_lines.append(f"Log: {report.log_url}")

    facts: list[tuple[str, str]] = []
    if report.model_name:
        facts.append(("Model", report.model_name))
    facts += [("Newest partition", str(newest)), ("Age", _hours(age)), ("Allowed age", allowed)]
    if reason_code in ("too_few_rows", "empty") or rows is not None:
        facts.append(("Rows", f"{rows if rows is not None else 'unknown'} (at least {min_rows} required)"))
    if as_of:
        facts.append(("As of", str(as_of)))
    if dataset:
        facts.append(("Dataset", str(dataset)))
    facts += [(n, v) for n, v in _task_fields(report) if n != "Model"]
    blocks = [
        bk.header(f"Stale data: {_subject(report)}"),
        *bk.fields(facts),
        bk.section(f"*{bk.escape_mrkdwn(reason[:1].upper() + reason[1:])}*\n"
                   f"{bk.escape_mrkdwn(bk.truncate(detail, 2500))}"),
        bk.context([*report_links(report), f"{bk.escape_mrkdwn(_error_type(report))}: deterministic failure, not "
                    "retried until new data lands"]),
    ]
    return bk.message("\n".join(text_lines), blocks)


def build_failure_message(report: FailureReport, error: BaseException | str | None = None) -> bk.AlertMessage:
    """The layout that fits the error: a data contract failure, stale data, or any other task failure."""
    from retrain.errors import DataContractError, StaleDataError

    if isinstance(error, DataContractError):
        return contract_failure_message(report, error)
    if isinstance(error, StaleDataError):
        return stale_data_message(report, error)
    return bk.AlertMessage(format_failure_text(report), format_failure_blocks(report))
