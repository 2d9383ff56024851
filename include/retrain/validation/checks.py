"""Retrain-specific checks that GX has no expectation for, reported exactly like GX failures.

They need more than the frame: the partitions it came from (row counts per partition, the day each row
belongs to). A suite file lists them under ``checks:`` next to its GX ``expectations:``::

    checks:
      - {check: row_count_vs_previous, max_change_pct: 50, severity: block}
      - {check: event_time_within_partition, column: event_time, severity: block}

``row_count_vs_previous``: the newest partition's row count is within +-max_change_pct % of the partition
before it (skipped when the snapshot holds a single partition). ``event_time_within_partition``: every
event timestamp lies in the UTC day of the partition its file sits in (date taken from the folder name).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["block", "warn"]
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")
_SAMPLES = 5


class RowCountVsPrevious(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    check: Literal["row_count_vs_previous"]
    max_change_pct: float = Field(gt=0)
    severity: Severity = "block"


class EventTimeWithinPartition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    check: Literal["event_time_within_partition"]
    column: str
    severity: Severity = "block"


CustomCheck = RowCountVsPrevious | EventTimeWithinPartition


@dataclass(frozen=True)
class PartitionRows:
    """One partition of the snapshot: its folder, its day, and the row range it holds in the frame."""

    path: str
    day: date | None
    start: int
    rows: int


def partition_day(path: str) -> date | None:
    """The day in a partition folder's name (``dt=YYYY-MM-DD``), if there is one."""
    match = _DAY.search(Path(path).name)
    return date.fromisoformat(match[1]) if match else None


def run_checks(frame: Any, checks: Sequence[CustomCheck], parts: list[PartitionRows]) -> list[tuple[CustomCheck, str | None]]:
    """Each check with None when it held, or the observed problem in words."""
    return [(c, _row_count(c, parts) if isinstance(c, RowCountVsPrevious) else _event_time(c, frame, parts))
            for c in checks]


def _row_count(check: RowCountVsPrevious, parts: list[PartitionRows]) -> str | None:
    if len(parts) < 2:
        return None
    prev, new = parts[-2], parts[-1]
    if prev.rows == 0:
        return None
    change = 100.0 * (new.rows - prev.rows) / prev.rows
    if abs(change) <= check.max_change_pct:
        return None
    return (f"newest partition {Path(new.path).name} has {new.rows} rows, {change:+.1f}% against "
            f"{prev.rows} in {Path(prev.path).name} (at most +-{check.max_change_pct:g}% allowed)")


def _event_time(check: EventTimeWithinPartition, frame: Any, parts: list[PartitionRows]) -> str | None:
    import numpy as np
    import pandas as pd

    if check.column not in frame.columns:
        return f"column '{check.column}' is missing from the data"
    try:
        times = pd.to_datetime(frame[check.column], utc=True)
    except (TypeError, ValueError) as exc:
        return f"could not be read as timestamps: {str(exc).splitlines()[0][:200]}"
    total = len(times)
    if total == 0:
        return None
    starts = np.empty(total, dtype="datetime64[ns]")
    known = np.zeros(total, dtype=bool)
    for p in parts:
        if p.day is not None:
            starts[p.start:p.start + p.rows] = np.datetime64(p.day.isoformat(), "ns")
            known[p.start:p.start + p.rows] = True
    values = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    start = starts
    bad = known & ~np.isnat(values) & ((values < start) | (values >= start + np.timedelta64(1, "D")))
    count = int(bad.sum())
    if not count:
        return None
    samples = []
    for v in pd.Series(values[bad][: 50 * _SAMPLES]).drop_duplicates().head(_SAMPLES):
        samples.append(pd.Timestamp(v).tz_localize("UTC").isoformat())
    counted = int((known & ~np.isnat(values)).sum())
    return (f"{count} of {counted} values ({100.0 * count / counted:.2f}%) lie outside their partition's UTC day, "
            f"e.g. {samples}")


def schema_drift(files: Sequence[str], columns: Collection[str] | None = None) -> str | None:
    """Files of one snapshot must share a schema. Reading them together would fill a dropped or renamed
    column with nulls for some partitions and hide the cause; say which file differs, and how, instead.
    Types that mean the same column are not drift (``same_kind_of_values``). With ``columns``, only those
    columns are compared (what the model and the suite read)."""
    import pyarrow.parquet as pq

    if len(files) < 2:
        return None
    base = pq.read_schema(files[0])
    problems = []
    for f in files[1:]:
        schema = pq.read_schema(f)
        if schema.equals(base):
            continue
        names, base_names = set(schema.names), set(base.names)
        if columns is not None:
            names, base_names = names & set(columns), base_names & set(columns)
        parts = []
        if base_names - names:
            parts.append(f"missing column(s) {sorted(base_names - names)}")
        if names - base_names:
            parts.append(f"unexpected column(s) {sorted(names - base_names)}")
        changed = [f"'{n}' from {base.field(n).type} to {schema.field(n).type}" for n in base.names
                   if n in names and n in base_names and not same_kind_of_values(base.field(n).type, schema.field(n).type)]
        if changed:
            parts.append("type changed " + ", ".join(changed))
        if parts:
            where = "/".join(Path(f).parts[-2:])
            problems.append(f"{where}: " + "; ".join(parts))
    if not problems:
        return None
    first = "/".join(Path(files[0]).parts[-2:])
    return f"schemas differ from {first}: " + " | ".join(problems)


def same_kind_of_values(a, b) -> bool:
    """Whether two partitions' types for one column hold the same kind of values, as writers vary them from day
    to day: pandas writes an integer column with nulls as double, an all-null column as null, and ``category``
    as a dictionary; a database export, decimals of another precision. Numbers stay numbers and text stays text;
    anything else (text to number, a time zone added) is drift."""
    import pyarrow as pa

    a, b = (t.value_type if pa.types.is_dictionary(t) else t for t in (a, b))
    if a.equals(b) or pa.types.is_null(a) or pa.types.is_null(b):
        return True
    kinds = (
        lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
        lambda t: pa.types.is_decimal(t) or pa.types.is_floating(t),  # money from a database, as decimal(p, s)
        lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
        lambda t: pa.types.is_timestamp(t) and t.tz == (a.tz if pa.types.is_timestamp(a) else None),
    )
    return any(kind(a) and kind(b) for kind in kinds)
