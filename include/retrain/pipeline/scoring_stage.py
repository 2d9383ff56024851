"""Batch scoring with the champion: the newest complete partition in, a predictions partition out.

Predictions land under the same contract as data (parquet written atomically, then the ``_SUCCESS``
manifest), so whoever reads them waits for the marker exactly as the model DAGs do. The champion's files
are re-hashed against the digest recorded at training before the model is loaded (``verify_artifacts``).
The partition is checked first against the spec's data contract, without the checks on label columns (rows
to score have no label yet): a feature the training contract would refuse is not scored (docs/data-contracts.md).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

from retrain.config import LoadedSpec
from retrain.errors import DataReadError
from retrain.settings import get_settings

log = logging.getLogger(__name__)


def score_newest_partition(loaded: LoadedSpec) -> dict | None:
    """Score the newest complete input partition with the current champion; land the predictions.

    Returns what landed (the partition day, rows, the champion version and the predictions folder), or None
    when the model has no champion yet (nothing to score with; not an error)."""
    import pyarrow as pa

    from retrain.data.landing import list_complete_partitions, partition_folder, write_partition
    from retrain.errors import RetrainError
    from retrain.tracking import mlflow_store
    from retrain.tracking.artifacts import load_verified

    spec, settings = loaded.spec, get_settings()
    if spec.scoring is None:
        raise RetrainError(f"{loaded.path}: the spec has no scoring section")
    data = spec.data
    partitions = list_complete_partitions(settings.resolve_data_path(data.location), data.partition_prefix,
                                          data.completion_marker)
    if not partitions:
        raise DataReadError(f"{data.location}: no complete partition to score")
    newest = partitions[-1]
    client = mlflow_store.connect(settings)
    champion = mlflow_store.champion_version(client, spec.registered_model_name)
    if champion is None:
        log.warning("%s has no champion yet: nothing to score with", spec.name)
        return None
    version = str(champion.version)
    model = load_verified(client, spec.registered_model_name, version)  # one download: the files it checked
    table = _read_checked_partition(loaded, newest)
    predictions = model.predict(table.select(spec.features.columns).to_pandas())
    out = table.select(spec.scoring.passthrough_columns)
    for head in spec.heads:
        out = out.append_column(f"{head.name}_prediction", pa.array(predictions[head.name].to_numpy(), pa.float64()))
    scored_at = datetime.now(UTC).isoformat(timespec="seconds")
    out = out.replace_schema_metadata({"retrain.model": spec.name, "retrain.champion_version": version,
                                       "retrain.scored_at": scored_at})
    target = settings.resolve_data_path(spec.scoring.output)
    _refuse_to_overwrite_data(partition_folder(target, newest.day), spec.name)
    folder = write_partition(out, target, newest.day)
    log.info("scored %s (%d rows) with %s version %s: %s", newest.path.name, out.num_rows, spec.name, version, folder)
    return {"day": newest.day.isoformat(), "rows": out.num_rows, "champion_version": version,
            "predictions": str(folder), "input": str(newest.path)}


def _read_checked_partition(loaded: LoadedSpec, partition):
    """The partition's feature, passthrough and contract columns, once it has passed the spec's data contract
    without the expectations that read a label. Raises DataContractError (naming the partition, column and
    check; the report is kept like a training run's) or DataReadError (no rows)."""
    import pyarrow.parquet as pq

    from retrain.data.encoding import numeric_column_problem
    from retrain.data.freshness import check_window_size
    from retrain.data.loading import read_table
    from retrain.links import data_docs_url, report_folder
    from retrain.validation import load_suite, validate_frame
    from retrain.validation.contract import ExpectationFailure, add_failures, contract_frame, write_report

    spec, settings = loaded.spec, get_settings()
    files = list(partition.files)
    label = f"{spec.data.location} {partition.path.name}"
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if rows == 0:
        raise DataReadError(f"{spec.data.location}/{partition.path.name}: the partition has no rows: nothing to score")
    check_window_size([partition], {partition.path.name: rows}, partition.path.parent, "the partition to score")
    suite = load_suite(settings.resolve_include_path(spec.validation.suite))
    labels = {h.label for h in spec.heads}
    kept = [e for e in suite.expectations if e.columns and not labels.intersection(e.columns)]
    suite = dataclasses.replace(suite, expectations=tuple(kept), checks=())
    present = set(pq.read_schema(files[0]).names)
    named = [c for e in kept for c in e.columns if c in present]
    table = read_table(files, columns=list(dict.fromkeys(
        [*spec.features.columns, *spec.scoring.passthrough_columns, *named])))
    problems = [ExpectationFailure("retrain_numeric_values", name, "block", problem, -1)
                for name in spec.features.numeric if (problem := numeric_column_problem(table, name))]
    report = add_failures(validate_frame(contract_frame(table), suite, partition=label), problems)
    for warning in report.warnings:
        log.warning("data contract warning on %s: %s", label, warning)
    if not report.success:
        run_id = settings.airflow_run_id or "local"
        paths = write_report(report, report_folder(f"score_{spec.name}", run_id, partition.path.name))
        report.raise_for_blocking(data_docs_url(paths))
    return table


def _refuse_to_overwrite_data(folder, model: str) -> None:
    """Predictions replace only this model's earlier predictions of the day (its ``retrain.model`` metadata):
    a ``scoring.output`` that points at a dataset (its own input, another team's) must not overwrite it."""
    import pyarrow.parquet as pq

    from retrain.errors import PathNotAllowedError

    for existing in sorted(folder.glob("*.parquet")):
        written_by = (pq.read_schema(existing).metadata or {}).get(b"retrain.model", b"").decode(errors="replace")
        if written_by != model:
            raise PathNotAllowedError(
                f"{existing}: scoring.output already holds this day's data, not written by score_{model} "
                f"(its 'retrain.model' metadata is {written_by or 'absent'!r}); predictions never overwrite "
                "data: point scoring.output at a folder of its own")
