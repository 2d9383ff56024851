"""The contract on each day partition that is new since the champion's data, on its own.

Over a long window, ``mostly`` and a range check are fractions of every day together: one day whose feature
is entirely null is 3% of a 28-day window and passes ``not_be_null mostly: 0.9``. So each partition the
champion has not trained on gets the whole suite run on its rows alone, and its failures name it
(``dt=...``). Partitions the champion trained on were checked when they were new. Checks that need the
window (row count against the previous day, keys unique across days, drift) still run over the window.
"""

from __future__ import annotations

from collections.abc import Sequence
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
) -> tuple[list[ExpectationFailure], dict[str, dict]]:
    """Run the suite on each of ``parts`` alone. Returns the failures (each naming its partition) and a
    summary per partition for the report. Without ``drop_unlabeled``, a null label blocks its partition."""
    failures: list[ExpectationFailure] = []
    summary: dict[str, dict] = {}
    for part in parts:
        name = Path(part.path).name
        report: ValidationReport = validate_frame(
            frame.iloc[part.start:part.start + part.rows], suite, partition=f"{dataset} {name}"
        )
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
    return failures, summary


def merge_window_and_partitions(window: list[ExpectationFailure], per_partition: list[ExpectationFailure]
                                ) -> list[ExpectationFailure]:
    """The window's failures plus each partition's, without repeating at window level an expectation
    that already failed on a named day (the day's failure says more)."""
    on_days = {(f.expectation, f.column, f.index) for f in per_partition}
    kept = [f for f in window if (f.expectation, f.column, f.index) not in on_days]
    return [*per_partition, *kept]
