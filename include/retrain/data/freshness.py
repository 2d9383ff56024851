"""Freshness: is there recent, complete, large enough data to retrain on, as of the run's data interval?

The check never looks at the wall clock: ``as_of`` is the end of the Airflow data interval, so a rerun of
the same interval selects the same partitions and yields the same fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from retrain.config import DataSpec
from retrain.data.landing import (
    Partition,
    list_complete_partitions,
    named_day,
    partition_folder,
    read_manifest,
)
from retrain.errors import DataChangedError, DataReadError, StaleDataError


@dataclass(frozen=True)
class DataSnapshot:
    """The exact data a run trains on. Small and JSON-friendly: it travels between tasks as an XCom."""

    dataset: str
    as_of: str
    partitions: list[str]
    files: list[str]
    newest_partition: str
    newest_rows: int
    total_rows: int
    fingerprint: str
    # sha256 of each file, by path relative to the dataset: what the tasks after check_freshness verify before
    # they use the bytes (verify_unchanged). Empty in snapshots made before it was recorded.
    file_sha256: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DataSnapshot:
        return cls(**data)

    @property
    def label(self) -> str:
        """Human-readable name of the data, for messages: dataset and partition range."""
        first, last = Path(self.partitions[0]).name, Path(self.partitions[-1]).name
        span = first if first == last else f"{first}..{last}"
        return f"{self.dataset} {span}"


def row_count(path: Path) -> int:
    """Rows in a parquet file, from its footer (a corrupt one is a DataReadError naming it)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataReadError(f"{path}: cannot read parquet footer ({type(exc).__name__}: {exc})") from None


def fingerprint_files(files: list[Path], root: Path) -> str:
    """Content hash of the snapshot: file names relative to the dataset root plus their bytes."""
    return _digests(files, root)[0]


def _digests(files: list[Path], root: Path) -> tuple[str, dict[str, str]]:
    """The snapshot's fingerprint and each file's sha256, in one pass over the bytes."""
    total, each = hashlib.sha256(), {}
    for path in files:
        name = str(path.relative_to(root))
        total.update(name.encode())
        one = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                total.update(chunk)
                one.update(chunk)
        each[name] = one.hexdigest()
    return total.hexdigest(), each


def verify_unchanged(snapshot: DataSnapshot, files: list[str] | None = None) -> None:
    """Raise DataChangedError when a file of the snapshot (or of ``files``, a part of it) no longer holds the
    bytes check_freshness hashed: a partition re-landed while the run was in flight. The contract is checked, and
    models are trained and judged, on the snapshot's bytes only."""
    if not snapshot.file_sha256:
        return
    root = Path(snapshot.dataset)
    changed = []
    for path in [Path(f) for f in (snapshot.files if files is None else files)]:
        name = str(path.relative_to(root))
        try:
            now = _digests([path], root)[1][name]
        except OSError:
            now = None
        if now != snapshot.file_sha256.get(name):
            changed.append(f"{name} ({'gone' if now is None else 'rewritten'})")
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise DataChangedError(
            f"{snapshot.label}: {len(changed)} file(s) changed after this run took its snapshot: {shown}. The "
            "data contract checks, and training uses, only the bytes the snapshot hashed: this run stops here, and "
            "the champion stays. The next run takes a new snapshot of the re-landed data and validates it"
        )


# Reasons that more time can cure: the data may still land. The others (too few rows, an empty partition)
# describe data that has landed and is complete, so waiting does not help.
LATE_REASONS = frozenset({"no_partition", "too_old", "incomplete_partition"})


def _what_is_there(dataset_dir: Path, data: DataSpec) -> str:
    """Why a dataset folder holds no complete partition at all, when the cause is a name or a missing marker."""
    if not dataset_dir.is_dir():
        return "; the folder does not exist"
    folders = sorted(p.name for p in dataset_dir.iterdir() if p.is_dir())
    named = [f for f in folders if f.startswith(data.partition_prefix)]
    if not folders:
        return "; the folder is empty"
    if not named:
        return (f"; it holds {len(folders)} folder(s) such as {folders[-1]!r} but none named "
                f"'{data.partition_prefix}YYYY-MM-DD' (data.partition_prefix)")
    undated = [f for f in named if named_day(f.removeprefix(data.partition_prefix)) is None]
    if len(undated) == len(named):
        return (f"; its {len(named)} folder(s) such as {undated[-1]!r} do not name a day: a partition is one UTC day, "
                f"'{data.partition_prefix}YYYY-MM-DD' (hourly or other layouts are not read)")
    unmarked = [f for f in named if not (dataset_dir / f / data.completion_marker).exists()]
    if not unmarked:
        return ""
    return (f"; {len(unmarked)} of its {len(named)} partition folder(s) have no marker, e.g. {unmarked[-1]!r} "
            f"(an empty '{data.completion_marker}' file written once a partition is complete will do)")


def _other_files(folder: Path, marker: str) -> str:
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != marker and not p.name.startswith("."))
    return f"; it holds {others[:3]}" if others else ""


def partition_end(day: date) -> datetime:
    """The end of a day partition (UTC): the earliest ``as_of`` whose window can include it."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _partition_rows(partition: Partition, marker: str) -> int:
    """Rows in a complete partition's files, checked against the row count its marker's manifest declares."""
    rows = sum(row_count(f) for f in partition.files)
    declared = (read_manifest(partition.path, marker) or {}).get("rows")
    if isinstance(declared, int) and declared != rows:
        raise DataReadError(
            f"{partition.path}: the '{marker}' manifest declares {declared} rows but the parquet files hold {rows}; "
            f"the partition was changed after it was marked complete, or not fully written"
        )
    return rows


def check_window_size(window: list[Partition], rows: dict[str, int], dataset_dir: Path,
                      what: str = "the training window") -> None:
    """Refuse a window with more rows than a worker reads (``RETRAIN_MAX_WINDOW_ROWS``), from the files' metadata,
    before a row is decoded: a few kilobytes of parquet can decode to gigabytes."""
    from retrain.settings import get_settings

    limit, total = get_settings().max_window_rows, sum(rows.values())
    if total <= limit:
        return
    largest = max(rows, key=rows.__getitem__)
    span = window[0].path.name + (f"..{window[-1].path.name}" if len(window) > 1 else "")
    raise DataReadError(
        f"{dataset_dir}: {what} {span} holds {total:,} rows, more than RETRAIN_MAX_WINDOW_ROWS={limit:,} "
        f"(largest: {largest} with {rows[largest]:,} rows); a shorter data.training_window_days, or a larger limit "
        "on workers with the memory for it (docs/security.md, D7)")


def _partition_end(partition: Partition) -> datetime:
    return partition_end(partition.day)


def _aware(as_of: datetime) -> datetime:
    """``as_of`` in UTC (naive means UTC): partitions are UTC days."""
    return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)


def awaited_markers(
    data: DataSpec, dataset_dir: Path, as_of: datetime, required_day: date | None = None
) -> list[Path]:
    """The completion markers whose arrival could make the freshness rule hold as of ``as_of``, newest first.

    With ``required_day`` (an asset event named the partition) only that partition's marker counts.
    Otherwise any day young enough for ``max_age_hours`` and inside the training window would do.
    """
    as_of = _aware(as_of)
    if required_day is not None:
        days = [required_day]
    else:
        window_start = (as_of - timedelta(days=data.training_window_days)).date()
        max_age = timedelta(hours=data.freshness.max_age_hours)
        day = as_of.date() - timedelta(days=1)  # the newest day that has ended by as_of
        days = []
        while day >= window_start and as_of - partition_end(day) <= max_age:
            days.append(day)
            day -= timedelta(days=1)
    return [partition_folder(dataset_dir, d, data.partition_prefix) / data.completion_marker for d in days]


def select_snapshot(
    data: DataSpec, dataset_dir: Path, as_of: datetime, required_day: date | None = None
) -> DataSnapshot:
    """Pick the partitions of the training window ending at ``as_of`` and check the freshness rule.

    A day partition belongs to the window when the whole day lies before ``as_of`` and the day is within
    ``training_window_days``. With ``required_day`` (the partition an asset event announced), that partition
    must be complete too. Raises StaleDataError with the reason when the rule is not met.
    """
    as_of = _aware(as_of)
    window_start: date = (as_of - timedelta(days=data.training_window_days)).date()
    complete = list_complete_partitions(dataset_dir, data.partition_prefix, data.completion_marker)
    if required_day is not None and required_day not in {p.day for p in complete}:
        folder = partition_folder(dataset_dir, required_day, data.partition_prefix)
        state = "exists but has no" if folder.is_dir() else "does not exist yet and has no"
        raise StaleDataError(
            f"{folder}: the announced partition {state} '{data.completion_marker}' marker "
            f"(a partition counts only once its marker exists; half-written partitions are never read)",
            reason="incomplete_partition", dataset=str(dataset_dir), newest_partition=required_day.isoformat(),
            as_of=as_of.isoformat(), max_age_hours=data.freshness.max_age_hours, min_rows=data.freshness.min_rows,
        )
    in_window = [p for p in complete if _partition_end(p) <= as_of and p.day >= window_start]
    if not in_window:
        newest = complete[-1].day.isoformat() if complete else "none"
        raise StaleDataError(
            f"{dataset_dir}: no complete partition in the training window {window_start}..{as_of:%Y-%m-%d %H:%M} UTC "
            f"(newest complete partition: {newest}; a partition counts once its '{data.completion_marker}' marker exists)"
            + ("" if complete else _what_is_there(dataset_dir, data)),
            reason="no_partition", dataset=str(dataset_dir), newest_partition=None if newest == "none" else newest,
            as_of=as_of.isoformat(), max_age_hours=data.freshness.max_age_hours, min_rows=data.freshness.min_rows,
        )
    newest = in_window[-1]
    age = as_of - _partition_end(newest)
    max_age = timedelta(hours=data.freshness.max_age_hours)
    if age > max_age:
        raise StaleDataError(
            f"{newest.path}: newest partition is {age.total_seconds() / 3600:.1f} h old at {as_of:%Y-%m-%d %H:%M} UTC, "
            f"more than the allowed {data.freshness.max_age_hours:g} h",
            reason="too_old", dataset=str(dataset_dir), newest_partition=newest.day.isoformat(),
            as_of=as_of.isoformat(), age_hours=age.total_seconds() / 3600,
            max_age_hours=data.freshness.max_age_hours, min_rows=data.freshness.min_rows,
        )
    if not newest.files:
        raise StaleDataError(
            f"{newest.path}: partition is marked complete but holds no parquet file (a name ending in .parquet)"
            + _other_files(newest.path, data.completion_marker),
            reason="empty", dataset=str(dataset_dir), newest_partition=newest.day.isoformat(),
            as_of=as_of.isoformat(), age_hours=age.total_seconds() / 3600,
            max_age_hours=data.freshness.max_age_hours, rows=0, min_rows=data.freshness.min_rows,
        )
    newest_rows = _partition_rows(newest, data.completion_marker)
    if newest_rows < data.freshness.min_rows:
        raise StaleDataError(
            f"{newest.path}: newest partition has {newest_rows} rows, fewer than the required {data.freshness.min_rows}",
            reason="too_few_rows", dataset=str(dataset_dir), newest_partition=newest.day.isoformat(),
            as_of=as_of.isoformat(), age_hours=age.total_seconds() / 3600,
            max_age_hours=data.freshness.max_age_hours, rows=newest_rows, min_rows=data.freshness.min_rows,
        )
    rows = {p.path.name: _partition_rows(p, data.completion_marker) for p in in_window[:-1]}
    rows[newest.path.name] = newest_rows
    total_rows = sum(rows.values())
    check_window_size(in_window, rows, dataset_dir)
    files = [f for p in in_window for f in p.files]
    fingerprint, file_sha256 = _digests(files, dataset_dir)
    return DataSnapshot(
        dataset=str(dataset_dir),
        as_of=as_of.isoformat(),
        partitions=[str(p.path) for p in in_window],
        files=[str(f) for f in files],
        newest_partition=newest.day.isoformat(),
        newest_rows=newest_rows,
        total_rows=total_rows,
        fingerprint=fingerprint,
        file_sha256=file_sha256,
    )
