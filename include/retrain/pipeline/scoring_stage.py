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
    """Score the newest complete input partition with the current champion (a segment spec: each row with its
    segment's champion); land the predictions.

    Returns what landed (the partition day, rows, the champion version(s) and the predictions folder), or None
    when there is no champion yet (nothing to score with; not an error)."""
    from retrain.data.landing import list_complete_partitions, partition_folder, write_partition
    from retrain.errors import RetrainError
    from retrain.tracking import mlflow_store

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
    if spec.segments is None:
        champion = mlflow_store.champion_version(client, spec.registered_model_name)
        if champion is None:
            log.warning("%s has no champion yet: nothing to score with", spec.name)
            return None
        table = _read_checked_partition(loaded, newest)
        version = str(champion.version)
        out = _predicted(spec, table, client, spec.registered_model_name, version)
        landed = {"champion_version": version}
    else:
        out, landed = _score_segments(loaded, client, _read_checked_partition(loaded, newest))
        if out is None:
            log.warning("%s: no segment of %s has a champion yet: nothing to score with", spec.name, newest.path.name)
            return None
        version = landed["champion_version"]
    scored_at = datetime.now(UTC).isoformat(timespec="seconds")
    out = out.replace_schema_metadata({"retrain.model": spec.name, "retrain.champion_version": version,
                                       "retrain.scored_at": scored_at})
    target = settings.resolve_data_path(spec.scoring.output)
    _refuse_to_overwrite_data(partition_folder(target, newest.day), spec.name)
    folder = write_partition(out, target, newest.day)
    log.info("scored %s (%d rows) with %s version %s: %s", newest.path.name, out.num_rows, spec.name, version, folder)
    return {"day": newest.day.isoformat(), "rows": out.num_rows, **landed, "predictions": str(folder),
            "input": str(newest.path)}


def _predicted(spec, table, client, name: str, version: str):
    """The passthrough columns and the ``_prediction_columns`` of every head, from the verified version."""
    from retrain.tracking.artifacts import load_verified

    model = load_verified(client, name, version)  # one download: the files it checked
    predictions = model.predict(table.select(spec.features.columns).to_pandas())
    out = table.select(spec.scoring.passthrough_columns)
    for column, values in _prediction_columns(spec, predictions, version, table.num_rows):
        out = out.append_column(column, values)
    return out


def _prediction_columns(spec, predictions, version: str | None, rows: int) -> list:
    """``<head>_prediction`` per head (a probability, a value, or a multiclass head's likeliest class) and a
    multiclass head's ``<head>_probability_<class>``; null when ``predictions`` is None (rows not scored)."""
    import pyarrow as pa

    from retrain.models.base import probability_column
    from retrain.pipeline.scoring import class_probabilities

    columns = []
    for head in spec.heads:
        kind = pa.string() if head.kind == "multiclass" else pa.float64()
        columns.append((f"{head.name}_prediction", pa.nulls(rows, kind) if predictions is None
                        else pa.array(predictions[head.name].to_numpy(), kind)))
        if head.kind == "multiclass":
            probabilities = None if predictions is None else class_probabilities(predictions, head, version)
            columns.extend((probability_column(head.name, c), pa.nulls(rows, pa.float64()) if probabilities is None
                            else pa.array(probabilities[:, i], pa.float64())) for i, c in enumerate(head.classes))
    return columns


def _score_segments(loaded: LoadedSpec, client, table):
    """Each segment's rows with that segment's champion (``<model>__<segment>``), verified like any champion.
    Rows of a segment without a champion (or without a segment value) land with null predictions, counted.
    The output adds the segment column and ``champion_version``. (None, ...) when no segment has a champion."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from retrain.data.loading import segment_keys
    from retrain.pipeline.segment_stage import registered_name
    from retrain.tracking import mlflow_store

    spec = loaded.spec
    column = spec.segments.column
    keys = segment_keys(table.column(column))
    listed = None if spec.segments.values is None else set(spec.segments.values)
    values = [v for v in pc.unique(pc.drop_null(keys)).to_pylist() if listed is None or v in listed]
    parts, scored = [], []
    for value in sorted(values):
        name = registered_name(spec, value)
        champion = mlflow_store.champion_version(client, name)
        if champion is None:
            continue
        rows = table.filter(pc.equal(keys, value))
        parts.append(_with_segment(_predicted(spec, rows, client, name, str(champion.version)), column,
                                   rows.column(column), str(champion.version)))
        scored.append(value)
    if not parts:
        return None, {}
    unscored = table.filter(pc.invert(pc.fill_null(pc.is_in(keys, value_set=pa.array(scored, pa.string())), False)))
    if unscored.num_rows:
        log.warning("%s: %d rows of segments without a champion (or without a segment value) land unscored",
                    spec.name, unscored.num_rows)
        blank = unscored.select(spec.scoring.passthrough_columns)
        for name, values in _prediction_columns(spec, None, None, unscored.num_rows):
            blank = blank.append_column(name, values)
        parts.append(_with_segment(blank, column, unscored.column(column), None))
    return pa.concat_tables(parts, promote_options="permissive"), {
        "champion_version": f"per segment ({len(scored)} champions)", "segments_scored": len(scored),
        "rows_unscored": unscored.num_rows}


def _with_segment(out, column: str, segment_values, version: str | None):
    """Predictions of one segment with its segment value (as in the data) and the champion version that made them."""
    import pyarrow as pa

    if column not in out.column_names:
        out = out.append_column(column, segment_values)
    return out.append_column("champion_version", pa.array([version] * out.num_rows, pa.string()))


def _read_checked_partition(loaded: LoadedSpec, partition):
    """The partition's feature, passthrough and contract columns, once it has passed the spec's data contract
    without the expectations that read a label. Raises DataContractError (naming the partition, column and
    check; the report is kept like a training run's) or DataReadError (no rows)."""
    from retrain.data.encoding import numeric_column_problem
    from retrain.data.freshness import check_window_size, row_count
    from retrain.data.loading import read_table
    from retrain.links import data_docs_url, report_folder
    from retrain.pipeline.data_stages import categorical_failures, present_columns
    from retrain.validation import load_suite, validate_frame
    from retrain.validation.contract import ExpectationFailure, add_failures, contract_frame, write_report

    spec, settings = loaded.spec, get_settings()
    files = list(partition.files)
    label = f"{spec.data.location} {partition.path.name}"
    rows = sum(row_count(f) for f in files)
    if rows == 0:
        raise DataReadError(f"{spec.data.location}/{partition.path.name}: the partition has no rows: nothing to score")
    check_window_size([partition], {partition.path.name: rows}, partition.path.parent, "the partition to score")
    suite = load_suite(settings.resolve_include_path(spec.validation.suite))
    labels = {h.label for h in spec.heads}
    kept = [e for e in suite.expectations if e.columns and not labels.intersection(e.columns)]
    suite = dataclasses.replace(suite, expectations=tuple(kept), checks=())
    named = present_columns(files, [c for e in kept for c in e.columns])
    segment = [spec.segments.column] if spec.segments is not None else []
    table = read_table(files, columns=list(dict.fromkeys(
        [*spec.features.columns, *spec.scoring.passthrough_columns, *segment, *named])))
    problems = [ExpectationFailure("retrain_numeric_values", name, "block", problem, -1)
                for name in spec.features.numeric if (problem := numeric_column_problem(table, name))]
    problems += categorical_failures(table, [*spec.features.categorical, *segment])
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
