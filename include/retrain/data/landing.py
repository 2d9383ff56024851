"""The landing-zone contract: day partitions with a completion marker.

Layout: ``<dataset>/dt=YYYY-MM-DD/part-00000.parquet`` plus ``_SUCCESS``. The marker is written last and
holds a small JSON manifest (row count and file names), so a reader never sees a half-written partition:
a folder without its marker does not exist as far as the pipeline is concerned. A marker that is not
JSON (an empty ``_SUCCESS`` as Spark or Hadoop write it) still marks the partition complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_PREFIX = "dt="
DEFAULT_MARKER = "_SUCCESS"
MAX_MANIFEST_BYTES = 1 << 20  # a marker is read by every freshness check and sensor poke: never a whole big file


@dataclass(frozen=True)
class Partition:
    day: date
    path: Path
    files: tuple[Path, ...]


def partition_folder(dataset_dir: str | Path, day: date, prefix: str = DEFAULT_PREFIX) -> Path:
    return Path(dataset_dir) / f"{prefix}{day.isoformat()}"


def parse_partition_day(value: str | date, prefix: str = DEFAULT_PREFIX) -> date:
    """``2026-11-21`` or ``dt=2026-11-21`` (a folder name) as a date. Raises ValueError otherwise."""
    if isinstance(value, date):
        return value
    text = str(value).strip().rstrip("/").rsplit("/", 1)[-1]
    return date.fromisoformat(text.removeprefix(prefix))


def write_partition(
    table: pa.Table,
    dataset_dir: str | Path,
    day: date,
    prefix: str = DEFAULT_PREFIX,
    marker: str = DEFAULT_MARKER,
    complete: bool = True,
) -> Path:
    """Write one day's partition atomically; the marker goes last (skip it to simulate a half-written one)."""
    folder = partition_folder(dataset_dir, day, prefix)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / "part-00000.parquet"
    tmp = folder / ".part-00000.parquet.tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, final)
    if complete:
        mark_complete(folder, rows=table.num_rows, files=[final.name], marker=marker)
    return folder


def mark_complete(folder: str | Path, *, rows: int, files: list[str], marker: str = DEFAULT_MARKER) -> Path:
    """Write the completion marker (a JSON manifest) atomically: readers see no marker or a whole one."""
    folder = Path(folder)
    tmp = folder / f".{marker}.tmp"
    tmp.write_text(json.dumps({"rows": rows, "files": files}))
    os.replace(tmp, folder / marker)
    return folder / marker


def read_manifest(folder: str | Path, marker: str = DEFAULT_MARKER) -> dict | None:
    """The marker's manifest; ``None`` when the partition is not complete, ``{}`` for a marker that is not JSON."""
    path = Path(folder) / marker
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(raw) > MAX_MANIFEST_BYTES:
        return {}  # not a manifest of ours (those are a few hundred bytes): the marker still marks completion
    try:
        manifest = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8 text (a writer's own binary marker)
        return {}
    return manifest if isinstance(manifest, dict) else {}


def list_complete_partitions(
    dataset_dir: str | Path, prefix: str = DEFAULT_PREFIX, marker: str = DEFAULT_MARKER
) -> list[Partition]:
    """Complete partitions, oldest first. Folders without the marker, or with a bad date, are ignored.

    Raises ``PathNotAllowedError`` for a partition folder, marker or file that resolves outside the dataset
    folder (a link planted by whoever writes the data) or a file that is not a regular file (a pipe would
    block the reader): the producer chooses files inside its dataset, never outside (docs/security.md)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        return []
    inside = root.resolve()
    found = []
    for folder in root.iterdir():
        if not folder.is_dir() or not folder.name.startswith(prefix):
            continue
        day = named_day(folder.name[len(prefix):])
        if day is None or not (folder / marker).exists():
            continue
        files = tuple(sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")))
        _check_inside(folder, inside)
        for path in (folder / marker, *files):
            _check_inside(path, inside, regular_file=True)
        found.append(Partition(day=day, path=folder, files=files))
    return sorted(found, key=lambda p: p.day)


def misnamed_partitions(dataset_dir: str | Path, prefix: str = DEFAULT_PREFIX, marker: str = DEFAULT_MARKER
                        ) -> list[str]:
    """Folders that look complete (``prefix`` and a marker) but do not name a day, so ``list_complete_partitions``
    does not read them: ``dt=2026-6-3``, ``dt=2026-06-03T00``."""
    root = Path(dataset_dir)
    if not root.is_dir():
        return []
    return sorted(folder.name for folder in root.iterdir() if folder.name.startswith(prefix) and folder.is_dir()
                  and named_day(folder.name[len(prefix):]) is None and (folder / marker).exists())


def named_day(text: str) -> date | None:
    """The day a partition folder's name names after its prefix (``2026-06-03``), or None."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _check_inside(path: Path, dataset: Path, regular_file: bool = False) -> None:
    from retrain.errors import PathNotAllowedError

    real = path.resolve()
    if not real.is_relative_to(dataset):
        raise PathNotAllowedError(f"{path}: resolves to {real}, outside its dataset folder {dataset}; a partition's "
                                  "folder, marker and files must lie inside the dataset (links within it are fine)")
    if regular_file and not real.is_file():
        raise PathNotAllowedError(f"{path}: not a regular file (a pipe, device or folder); reading it could block "
                                  "the run, so the partition is refused")
