"""Stages 1 and 2: is the data fresh, and does it keep its contract?"""

from __future__ import annotations

import logging
from datetime import date, datetime

from retrain.config import LoadedSpec
from retrain.data.freshness import DataSnapshot, select_snapshot
from retrain.settings import get_settings

log = logging.getLogger(__name__)


def check_freshness(loaded: LoadedSpec, as_of: datetime, required_day: date | None = None) -> dict:
    """Select the training window's partitions as of the data interval end. Raises StaleDataError.

    ``required_day``: the partition an asset event announced; it must be complete.
    """
    spec = loaded.spec
    dataset_dir = get_settings().resolve_data_path(spec.data.location)
    snapshot = select_snapshot(spec.data, dataset_dir, as_of, required_day)
    log.info(
        "fresh data for %s: %d partitions, newest %s with %d rows, %d rows in all, fingerprint %s",
        spec.name, len(snapshot.partitions), snapshot.newest_partition, snapshot.newest_rows,
        snapshot.total_rows, snapshot.fingerprint[:12],
    )
    return snapshot.to_dict()


def find_run_on_same_data(loaded: LoadedSpec, snapshot: dict) -> dict | None:
    """The newest MLflow run that already trained this spec on exactly this data and reached a gate decision.

    Same data means the same ``retrain.data_fingerprint``; same spec means the same ``retrain.spec_sha256``
    (a changed spec is a new recipe and deserves a new model). Runs that stopped before the gate do not count,
    so a run that failed half-way is retrained.
    """
    from retrain.tracking import mlflow_store

    spec, fingerprint = loaded.spec, snapshot["fingerprint"]
    client = mlflow_store.connect(get_settings())
    experiment = client.get_experiment_by_name(spec.name)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`retrain.data_fingerprint` = '{fingerprint}'",
        order_by=["attributes.start_time DESC"],
        max_results=100,
    )
    for run in runs:
        tags = run.data.tags
        if tags.get("retrain.spec_sha256") == loaded.sha256 and tags.get("retrain.gate_decision") in ("promote", "reject"):
            return {
                "mlflow_run_id": run.info.run_id,
                "airflow_run_id": tags.get("airflow.run_id"),
                "gate_decision": tags["retrain.gate_decision"],
                "version": tags.get("retrain.challenger_version"),
            }
    return None


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
