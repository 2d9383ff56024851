"""Stages 1 and 2: is the data fresh, and does it keep its contract?"""

from __future__ import annotations

import logging
from datetime import datetime

from retrain.config import LoadedSpec
from retrain.data.freshness import DataSnapshot, select_snapshot
from retrain.settings import get_settings

log = logging.getLogger(__name__)


def check_freshness(loaded: LoadedSpec, as_of: datetime) -> dict:
    """Select the training window's partitions as of the data interval end. Raises StaleDataError."""
    spec = loaded.spec
    dataset_dir = get_settings().resolve_data_path(spec.data.location)
    snapshot = select_snapshot(spec.data, dataset_dir, as_of)
    log.info(
        "fresh data for %s: %d partitions, newest %s with %d rows, %d rows in all, fingerprint %s",
        spec.name, len(snapshot.partitions), snapshot.newest_partition, snapshot.newest_rows,
        snapshot.total_rows, snapshot.fingerprint[:12],
    )
    return snapshot.to_dict()


def validate_data(loaded: LoadedSpec, snapshot: dict) -> dict:
    """Run the spec's expectation suite on the snapshot. Raises DataContractError on a blocking failure."""
    from retrain.data.loading import read_table
    from retrain.validation import load_suite, validate_frame

    data = DataSnapshot.from_dict(snapshot)
    suite = load_suite(get_settings().resolve_include_path(loaded.spec.validation.suite))
    frame = read_table(data.files).to_pandas()
    report = validate_frame(frame, suite, partition=data.label)
    for warning in report.warnings:
        log.warning("data contract warning: %s", warning)
    report.raise_for_blocking()
    log.info("data contract passed: %d expectations on %d rows of %s", report.evaluated, len(frame), data.label)
    return report.to_dict()
