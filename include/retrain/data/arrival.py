"""Data events: what an asset event says about a landed partition, for producers and consumers alike.

A producer (the landing DAG, an upstream job, or anyone calling Airflow's REST API) announces a day
partition with an asset event on the dataset's Asset (URIs in :mod:`retrain.assets`) whose ``extra`` names
the partition::

    {"partition": "2026-11-21", "rows": 6000, "files": ["part-00000.parquet"]}

Only a complete partition (its completion marker written) may be announced: :func:`partition_event_extra`
refuses a half-written one. A model DAG run triggered by such events trains as of the end of the newest
announced day, so rerunning it reads the same partitions; an event without ``partition`` falls back to the
run's own time. Do not send Airflow's ``partition_key`` field: it is meant for partition-aware Dags, and
Airflow does not queue runs of ordinary Dags (like these) for events that carry one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from retrain.data.landing import (
    DEFAULT_MARKER,
    DEFAULT_PREFIX,
    parse_partition_day,
    partition_folder,
    read_manifest,
)
from retrain.errors import DeterministicFailure

PARTITION_KEY = "partition"


class IncompletePartitionError(DeterministicFailure):
    """Someone tried to announce a partition whose completion marker is missing."""


class BadAssetEventError(DeterministicFailure):
    """An asset event's ``extra`` names a partition that is not a date."""


def partition_event_extra(
    dataset_dir: str | Path, day: date, prefix: str = DEFAULT_PREFIX, marker: str = DEFAULT_MARKER
) -> dict:
    """The ``extra`` of the asset event that announces ``day``. Raises IncompletePartitionError without a marker."""
    folder = partition_folder(dataset_dir, day, prefix)
    manifest = read_manifest(folder, marker)
    if manifest is None:
        state = "has no" if folder.is_dir() else "does not exist, so it has no"
        raise IncompletePartitionError(
            f"{folder} {state} '{marker}' marker: a half-written partition is never announced "
            f"(write the data first, the marker last, then announce)"
        )
    extra: dict = {PARTITION_KEY: day.isoformat()}
    if isinstance(manifest.get("rows"), int):
        extra["rows"] = manifest["rows"]
    if isinstance(manifest.get("files"), list):
        extra["files"] = [str(f) for f in manifest["files"]]
    return extra


def announced_days(extras: Iterable[Mapping | None], prefix: str = DEFAULT_PREFIX) -> list[date]:
    """The partition days named by asset events, sorted and distinct. Events without a partition name none.

    Raises BadAssetEventError for a ``partition`` that is not a date, so a malformed event fails its run
    with a message instead of silently training on something else.
    """
    days = set()
    for extra in extras:
        value = (extra or {}).get(PARTITION_KEY)
        if value in (None, ""):
            continue
        try:
            days.add(parse_partition_day(str(value), prefix))
        except ValueError:
            raise BadAssetEventError(
                f"asset event extra {PARTITION_KEY}={value!r} is not a day partition: "
                f"send 'YYYY-MM-DD' or '{prefix}YYYY-MM-DD'"
            ) from None
    return sorted(days)
