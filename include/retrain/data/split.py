"""The holdout split: which rows neither the champion nor the candidate trains on.

A row's side is decided by the row itself, never by its position in the window, so a row lands on the same
side in every window that contains it (the way TFX ExampleGen splits by hash buckets):

* by hash: ``holdout_fraction`` of the hash buckets of the key columns (the whole row when none are named);
* out of time: every row of the window's newest ``holdout_newest_days`` day partitions.

Both may be on; a row is in the holdout when either says so. The rule travels with every run (tag
``retrain.holdout_rule``), so the next run can count, from the rule alone, how many of its holdout rows the
champion trained on (``champion_seen_rows``): with the same hash rule that count is 0 by construction.
Each side is sorted by a whole-row hash, so the order rows arrive in changes nothing downstream.
docs/evaluation.md has the reasoning.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retrain.errors import DataReadError

PARTITION_COLUMN = "__partition"  # the day partition (``dt=YYYY-MM-DD``) a row came from
RULE_TAG = "retrain.holdout_rule"
PARTITIONS_TAG = "retrain.data_partitions"  # comma-separated partition names, also in the lineage manifest
# window partitions the run had no row from (every label still missing, or none of a segment's rows): neither
# trained on nor held out; usually empty
PARTITIONS_WITHOUT_ROWS_TAG = "retrain.partitions_without_rows"
_BUCKETS = 10_000


@dataclass(frozen=True)
class HoldoutRule:
    fraction: float  # share of hash buckets in the holdout (0: none by hash)
    columns: tuple[str, ...]  # hashed columns: the spec's key, or every column the model reads
    newest_days: int = 0  # the window's newest N partitions are held out whole

    def to_tag(self) -> str:
        return json.dumps({**asdict(self), "columns": list(self.columns), "version": 1}, sort_keys=True)

    @classmethod
    def from_tag(cls, value: str | None) -> HoldoutRule | None:
        """The rule a run recorded, or None for runs from before the rule was recorded (positional split)."""
        if not value:
            return None
        data = json.loads(value)
        return cls(float(data["fraction"]), tuple(data["columns"]), int(data.get("newest_days", 0)))

    def describe(self) -> str:
        parts = []
        if self.fraction:
            key = "the whole row" if not self.columns else ", ".join(self.columns)
            parts.append(f"{self.fraction:.0%} of rows by a hash of {key}")
        if self.newest_days:
            parts.append(f"the newest {self.newest_days} day(s)")
        return " + ".join(parts)


def rule_for(spec) -> HoldoutRule:
    """The spec's split rule; without ``holdout_key`` the whole row is hashed (features and labels)."""
    data = spec.data
    columns = tuple(data.holdout_key) or tuple(sorted({*spec.features.columns, *(h.label for h in spec.heads)}))
    return HoldoutRule(fraction=data.holdout_fraction, columns=columns, newest_days=data.holdout_newest_days)


_EXACT_IN_A_DOUBLE = 2.0**53


def _column_hash(column: pa.ChunkedArray) -> np.ndarray:
    """uint64 per value, the same for the same value whatever the window's inferred type (3 == 3.0, null == null)."""
    import pandas as pd

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        values = pc.cast(column, pa.float64(), safe=not pa.types.is_integer(kind)).to_numpy(zero_copy_only=False)
        values = np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN, and -0.0 == 0.0
        hashes = pd.util.hash_array(values)
        if pa.types.is_integer(kind):  # beyond 2**53 a double is not exact: a 16-digit id hashes as itself
            beyond = np.abs(values) > _EXACT_IN_A_DOUBLE  # False for nulls (NaN)
            if beyond.any():
                hashes[beyond] = pd.util.hash_array(pc.fill_null(column, 0).to_numpy(zero_copy_only=False)[beyond])
        return hashes
    try:
        values = np.asarray(pc.cast(column, pa.string()).to_pylist(), dtype=object)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        values = np.asarray([None if v is None else repr(v) for v in column.to_pylist()], dtype=object)
    return pd.util.hash_array(values, categorize=True)


def row_hashes(table: pa.Table, columns: tuple[str, ...] | list[str]) -> np.ndarray:
    """One uint64 per row from the named columns' values, independent of row order and of other rows."""
    combined = np.full(table.num_rows, 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:
            combined = (combined * np.uint64(1_000_003)) ^ _column_hash(table.column(name))
    return combined


def _newest(partitions: list[str], days: int) -> set[str]:
    return set(sorted(partitions)[-days:]) if days else set()


def holdout_mask(table: pa.Table, rule: HoldoutRule, window_partitions: list[str]) -> np.ndarray:
    """True for holdout rows. Needs the hashed columns and, for out-of-time, ``PARTITION_COLUMN``."""
    mask = np.zeros(table.num_rows, dtype=bool)
    if rule.fraction:
        mask |= (row_hashes(table, rule.columns) % np.uint64(_BUCKETS)) < round(rule.fraction * _BUCKETS)
    if rule.newest_days:
        newest = pa.array(sorted(_newest(window_partitions, rule.newest_days)), pa.string())
        mask |= pc.is_in(table.column(PARTITION_COLUMN), value_set=newest).to_numpy(zero_copy_only=False)
    return mask


class EmptySplitError(DataReadError):
    """The rule leaves the holdout or the training set without a row: the gate cannot compare, or nothing trains."""


def partitions_without_rows(window_partitions: list[str], *tables: pa.Table) -> list[str]:
    """The window's partitions that none of ``tables`` holds a row from (``PARTITIONS_WITHOUT_ROWS_TAG``)."""
    present = set().union(*(pc.unique(t.column(PARTITION_COLUMN)).to_pylist() for t in tables))
    return [p for p in window_partitions if p not in present]


def split(table: pa.Table, rule: HoldoutRule, window_partitions: list[str]) -> tuple[pa.Table, pa.Table]:
    """(training rows, holdout rows), each sorted by a whole-row hash so row order changes nothing.

    The newest days held out are the newest partitions with a row in ``table``: with labels that arrive days
    late, the newest partitions have none once unlabeled rows are dropped, and out-of-time evaluation moves to
    the newest days it can grade."""
    empty = partitions_without_rows(window_partitions, table)
    with_rows = [p for p in window_partitions if p not in empty]
    mask = holdout_mask(table, rule, with_rows)
    if mask.all() or not mask.any():
        raise EmptySplitError(_empty_side(table, rule, with_rows, empty, holdout_empty=not mask.any()))
    order_columns = [c for c in table.column_names if c != PARTITION_COLUMN]
    order = np.argsort(row_hashes(table, order_columns), kind="stable")
    ordered_mask = mask[order]
    ordered = table.take(pa.array(order))
    return ordered.filter(pa.array(~ordered_mask)), ordered.filter(pa.array(ordered_mask))


def _empty_side(table: pa.Table, rule: HoldoutRule, with_rows: list[str], empty: list[str], holdout_empty: bool
                ) -> str:
    if table.num_rows == 0:
        return (f"no rows to split: none of the window's {len(empty)} partitions has a row (no labeled row, or none "
                f"of this segment)")
    where = f"{with_rows[0]}..{with_rows[-1]}" if len(with_rows) > 1 else (with_rows or ["no partition"])[0]
    rows = f"{table.num_rows} rows of {where}"
    if empty:
        rows += (f" ({len(empty)} of the window's {len(empty) + len(with_rows)} partitions have no row: "
                 f"no labeled row, or none of this segment)")
    if holdout_empty:
        return (f"no holdout rows: {rule.describe() or 'no rule'} selects none of the {rows}; the gate needs rows "
                f"neither model trained on (raise data.holdout_fraction, or set data.holdout_newest_days)")
    return (f"no rows left to train on: {rule.describe()} hold out all {rows}; lower data.holdout_newest_days "
            f"or data.holdout_fraction, or widen data.training_window_days")


@dataclass(frozen=True)
class SeenRows:
    """How many holdout rows the champion trained on, and how that was established."""

    rows: int
    how: str


def champion_seen_rows(holdout: pa.Table, champion_rule: HoldoutRule | None, champion_partitions: list[str] | None,
                       champion_without_rows: list[str] = ()) -> SeenRows:
    """Holdout rows that the champion's own split put in its training set.

    A row can only have been seen if its partition was in the champion's window and gave it rows; inside those
    the champion's rule says on which side it fell. A champion without a recorded rule (trained with the old
    positional split) or without its partition list may have seen any row of its window: they all count."""
    partitions = holdout.column(PARTITION_COLUMN)
    if champion_partitions is None:
        return SeenRows(holdout.num_rows, "the champion's training partitions are not recorded")
    champion_partitions = [p for p in champion_partitions if p not in champion_without_rows]
    in_window = pc.is_in(partitions, value_set=pa.array(sorted(champion_partitions), pa.string()))
    in_window = in_window.to_numpy(zero_copy_only=False)
    if champion_rule is None:
        return SeenRows(int(in_window.sum()), "the champion was trained with the old position-based split")
    missing = [c for c in champion_rule.columns if c not in holdout.column_names] if champion_rule.fraction else []
    if missing:
        return SeenRows(int(in_window.sum()), f"the champion's split hashed columns this run does not read: {missing}")
    champion_holdout = holdout_mask(holdout, champion_rule, champion_partitions)
    return SeenRows(int((in_window & ~champion_holdout).sum()), f"by the champion's rule: {champion_rule.describe()}")


def champion_seen_rows_from_tags(holdout: pa.Table, champion_tags: dict[str, str] | None) -> SeenRows:
    """``champion_seen_rows`` with the champion's rule and partitions read from its run's tags."""
    if champion_tags is None:
        return SeenRows(0, "no champion")
    partitions = champion_tags.get(PARTITIONS_TAG)
    without_rows = [p for p in (champion_tags.get(PARTITIONS_WITHOUT_ROWS_TAG) or "").split(",") if p]
    return champion_seen_rows(holdout, HoldoutRule.from_tag(champion_tags.get(RULE_TAG)),
                              partitions.split(",") if partitions else None, without_rows)


def same_spec_and_data(candidate_tags: dict[str, str], champion_tags: dict[str, str] | None) -> bool:
    """The candidate comes from the champion's spec file and the champion's data (a rerun)."""
    if champion_tags is None:
        return False
    keys = ("retrain.spec_sha256", "retrain.data_fingerprint")
    return all(candidate_tags.get(k) and candidate_tags.get(k) == champion_tags.get(k) for k in keys)
