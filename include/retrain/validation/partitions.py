"""The contract on each day partition that is new since the champion's data, on its own.

Over a long window, ``mostly`` and a range check are fractions of every day together: one day whose feature
is entirely null is 3% of a 28-day window and passes ``not_be_null mostly: 0.9``. So each partition the
champion has not trained on gets the whole suite run on its rows alone, and its failures name it
(``dt=...``). Partitions the champion trained on were checked when they were new; one it had no row from
(every label still missing then) is new until a champion trains on it. Checks that need the
window (row count against the previous day, keys unique across days, drift) still run over the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from retrain.validation.checks import PartitionRows
from retrain.validation.contract import ExpectationFailure, ValidationReport, validate_frame
from retrain.validation.suite import ContractSuite


def new_partitions(parts: Sequence[PartitionRows], champion_partitions: list[str] | None) -> list[PartitionRows]:
    """The partitions the champion did not train on (all of them without a champion)."""
    seen = set(champion_partitions or [])
    return [p for p in parts if Path(p.path).name not in seen]


def validate_partitions(
    frame: Any,
    suite: ContractSuite,
    parts: Sequence[PartitionRows],
    *,
    dataset: str,
    unlabeled: dict[str, int],
    labels: Sequence[str],
    drop_unlabeled: bool,
    waiting_for_labels: Mapping[str, Any] | None = None,
) -> tuple[list[ExpectationFailure], dict[str, dict]]:
    """Run the suite on each of ``parts`` alone. Returns the failures (each naming its partition) and a
    summary per partition for the report. Without ``drop_unlabeled``, a null label blocks its partition.
    ``waiting_for_labels``: the rows as landed of partitions that ``drop_unlabeled`` left without a row (labels
    that arrive late); those partitions are checked as they landed, not as zero rows."""
    failures: list[ExpectationFailure] = []
    summary: dict[str, dict] = {}
    for part in parts:
        name = Path(part.path).name
        landed = (waiting_for_labels or {}).get(name) if part.rows == 0 else None
        if landed is None:
            report: ValidationReport = validate_frame(frame.iloc[part.start:part.start + part.rows], suite,
                                                      partition=f"{dataset} {name}")
        else:  # its features now; its labels once they arrive (a champion that had no row from it did not train on it)
            report = validate_frame(landed, _without_label_checks(suite, labels), partition=f"{dataset} {name}")
        found = [replace(f, partition=name) for f in report.failures]
        if not drop_unlabeled and unlabeled.get(name):
            found.append(ExpectationFailure(
                "retrain_labels_not_null", ", ".join(labels), "block",
                f"{unlabeled[name]} of {part.rows} rows have no label; set data.drop_unlabeled_rows: true in the "
                "spec to train on the labelled rows only", len(suite.expectations) + 100, partition=name,
            ))
        failures += found
        summary[name] = {"rows": part.rows, "success": not any(f.severity == "block" for f in found),
                         "failures": [f.to_dict() for f in found]}
        if landed is not None:
            summary[name]["waiting_for_labels"] = len(landed)
    return failures, summary


def for_partial_labels(suite: ContractSuite, labels: Sequence[str]) -> ContractSuite:
    """The suite for rows that may lack some heads' labels (``data.drop_unlabeled_rows``: those heads skip them):
    no not-null expectation on a label column (the report counts the rows that lack every label), and checks of
    a label against another column only on the rows where both are present."""
    kept = []
    for e in suite.expectations:
        if not set(e.columns) & set(labels):
            kept.append(e)
        elif e.expect == "column_values_to_not_be_null":
            continue
        elif e.expect.startswith("column_pair_") or e.expect.startswith("multicolumn_") or e.expect.startswith(
                "select_column_values_"):
            missing = "either_value_is_missing" if e.expect.startswith("column_pair_") else "any_value_is_missing"
            kept.append(replace(e, kwargs={"ignore_row_if": missing, **e.kwargs}))
        else:
            kept.append(e)
    return replace(suite, expectations=tuple(kept))


def _without_label_checks(suite: ContractSuite, labels: Sequence[str]) -> ContractSuite:
    return replace(suite, expectations=tuple(e for e in suite.expectations if not set(e.columns) & set(labels)))


def merge_window_and_partitions(window: list[ExpectationFailure], per_partition: list[ExpectationFailure]
                                ) -> list[ExpectationFailure]:
    """The window's failures plus each partition's, without repeating at window level an expectation
    that already failed on a named day (the day's failure says more)."""
    on_days = {(f.expectation, f.column, f.index) for f in per_partition}
    kept = [f for f in window if (f.expectation, f.column, f.index) not in on_days]
    return [*per_partition, *kept]
