"""Stages 1 and 2: is the data fresh, and does it keep its contract?"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from retrain.config import LoadedSpec
from retrain.data.freshness import DataSnapshot, select_snapshot, verify_unchanged
from retrain.links import data_docs_url, report_folder
from retrain.settings import get_settings
from retrain.tracking import tags as tags_

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
        if tags.get(tags_.SPEC_SHA256) == loaded.sha256 and tags.get(tags_.GATE_DECISION) in ("promote", "reject"):
            return {
                "mlflow_run_id": run.info.run_id,
                "airflow_run_id": tags.get("airflow.run_id"),
                "gate_decision": tags[tags_.GATE_DECISION],
                "version": tags.get(tags_.CHALLENGER_VERSION),
            }
    return None


def _partition_label(loaded: LoadedSpec, data: DataSnapshot) -> str:
    """The data in messages: the spec's dataset location and the partition range (no absolute paths)."""
    first, last = Path(data.partitions[0]).name, Path(data.partitions[-1]).name
    span = first if first == last else f"{first}..{last}"
    return f"{loaded.spec.data.location} {span}"


def report_dir(loaded: LoadedSpec, data: DataSnapshot) -> Path:
    """The report folder of this validation (the Airflow run id comes from the task's environment)."""
    run_id = get_settings().airflow_run_id or "local"
    partition = Path(data.partitions[-1]).name if data.partitions else "none"
    return report_folder(loaded.spec.name, run_id, partition)


def _champion(loaded: LoadedSpec):
    """The champion's registered version and its run's tags, or (None, None) before the first promotion."""
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    champion = mlflow_store.champion_version(client, loaded.spec.registered_model_name)
    if champion is None:
        return None, None
    return champion, client.get_run(champion.run_id).data.tags


def _champion_reference(loaded: LoadedSpec, champion=None, champion_tags: dict | None = None
                        ) -> tuple[dict | None, str]:
    """The champion's reference statistics (from its run's validation/report.json, only while it matches the
    digest recorded at training) and where they came from."""
    if champion is None:
        champion, champion_tags = _champion(loaded)
    if champion is None:
        return None, "no champion yet"
    where = f"champion version {champion.version} (run {champion.run_id})"
    from retrain.tracking.lineage import VALIDATION_PATH, load_verified_document

    try:
        report = load_verified_document(champion.run_id, champion_tags or {}, VALIDATION_PATH)
    except Exception as exc:  # an older champion without the artifact or its digest, or one changed since
        log.warning("no usable stored reference statistics for %s: %s", where, exc)
        return None, where
    return report.get("reference_stats") or None, where


def _drift_reference(loaded: LoadedSpec, champion, champion_tags: dict | None, drift) -> tuple[dict | None, str]:
    """Statistics of the data that trained the champion, and a description of exactly where they came from.

    The champion's stored ``reference_stats`` when they cover the spec's drift columns; otherwise computed
    now from the partitions the champion trained on (its run's ``retrain.data_partitions``), when they are
    still on disk. Without either the description says that drift was not checked, and why."""
    if champion is None:
        return None, "not checked: no champion yet"
    stored, where = _champion_reference(loaded, champion, champion_tags)
    if stored and all(c in stored for c in drift.columns):
        return stored, where
    from retrain.data.loading import read_table
    from retrain.data.split import PARTITIONS_TAG
    from retrain.errors import DataReadError
    from retrain.validation.drift import reference_stats

    names = [n for n in ((champion_tags or {}).get(PARTITIONS_TAG) or "").split(",") if n]
    dataset = get_settings().resolve_data_path(loaded.spec.data.location)
    files = sorted(f for n in names for f in (dataset / n).glob("*.parquet"))
    missing = [n for n in names if not any((dataset / n).glob("*.parquet"))]
    if not names or missing:
        why = "its training partitions are not recorded" if not names else f"its training partitions are gone ({missing[:3]})"
        return None, f"not checked: champion version {champion.version} has no stored reference and {why}"
    try:
        frame = read_table(files, columns=list(drift.columns)).to_pandas()
    except DataReadError as exc:
        return None, f"not checked: champion version {champion.version}'s training partitions cannot be read ({exc})"
    computed = reference_stats(frame, drift.columns, drift.bins)
    log.warning("champion version %s has no stored drift reference for %s: computed from its %d training partitions",
                champion.version, [c for c in drift.columns if c not in (stored or {})], len(names))
    return {**computed, **(stored or {})}, (
        f"champion version {champion.version} (run {champion.run_id}), computed from the partitions it trained on "
        f"({names[0]}..{names[-1]})")


def _waiting_for_labels(landed, partitions: list[str]) -> dict:
    """The rows as landed of partitions without a labeled row, by partition: checked as they landed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from retrain.data.split import PARTITION_COLUMN
    from retrain.validation.contract import contract_frame

    column = landed.column(PARTITION_COLUMN)
    return {name: contract_frame(landed.filter(pc.equal(column, pa.scalar(name))).drop_columns([PARTITION_COLUMN]))
            for name in partitions}


def categorical_failures(table, columns: list[str]) -> list:
    """A blocking ``retrain_categorical_values`` per column read as categories (a categorical feature, a segment
    column) that holds a list, struct or map per row; training and scoring check the same."""
    from retrain.data.encoding import categorical_column_problem
    from retrain.validation.contract import ExpectationFailure

    return [ExpectationFailure("retrain_categorical_values", name, "block", problem, -1)
            for name in dict.fromkeys(columns)
            if name in table.column_names and (problem := categorical_column_problem(table, name))]


def _identifiers_as_categories(table, categorical: list[str]) -> list:
    """A warning per categorical feature with (nearly) a value per row: an id learns nothing that carries over."""
    import pyarrow.compute as pc

    from retrain.validation.contract import ExpectationFailure

    found = []
    for name in categorical:
        column = table.column(name)
        rows = len(column) - column.null_count
        distinct = pc.count_distinct(column).as_py() if rows >= 100 else 0  # too few rows to tell
        if distinct and distinct >= 0.9 * rows:
            found.append(ExpectationFailure(
                "retrain_categorical_not_an_id", name, "warn",
                f"categorical feature '{name}' has {distinct:,} distinct values in {rows:,} rows: an identifier, "
                "not a category. The model learns an embedding per value from about one row each, and nothing "
                f"that carries over to new values; remove it from features.categorical (to keep each {name} on "
                "one side of the holdout split, name it in data.holdout_key)", -1))
    return found


def _misnamed_partitions(loaded: LoadedSpec, data: DataSnapshot) -> list:
    """A warning naming the folders that look like complete partitions but do not name a day (not read)."""
    import contextlib
    import re

    from retrain.data.landing import misnamed_partitions
    from retrain.validation.contract import ExpectationFailure

    spec_data = loaded.spec.data
    names = misnamed_partitions(data.dataset, spec_data.partition_prefix, spec_data.completion_marker)
    if not names:
        return []
    example = f"{spec_data.partition_prefix}YYYY-MM-DD"
    numbers = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", names[0].removeprefix(spec_data.partition_prefix))
    if numbers:
        with contextlib.suppress(ValueError):  # 2026-2-30 is no day either
            example += f", e.g. {spec_data.partition_prefix}{date(*map(int, numbers.groups())).isoformat()}"
    shown = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return [ExpectationFailure(
        "retrain_partition_name", None, "warn",
        f"{len(names)} folder(s) with a '{spec_data.completion_marker}' marker do not name a day, so their rows are "
        f"not read: {shown} (a partition is named {example})", -1)]


def watched_columns(spec, suite) -> list[str] | None:
    """The columns whose schema must agree across a snapshot's files: those the spec reads and those the suite's
    expectations name; None (every column) when the suite has an expectation about the table's columns."""
    if any(e.expect.startswith("table_column") for e in suite.expectations):
        return None
    return list(dict.fromkeys([*spec.columns_read, *(c for e in suite.expectations for c in e.columns)]))


def present_columns(files: list[str], columns: list[str]) -> list[str]:
    """``columns`` that the first file has (a missing one is reported by the schema and spec-column checks)."""
    import pyarrow.parquet as pq

    names = set(pq.read_schema(files[0]).names)
    return [c for c in columns if c in names]


def _parts(partitions: list[str], names) -> list:
    """Rows per partition from the table's partition column (files are read, and rows kept, in order)."""
    import pyarrow.compute as pc

    from retrain.validation.checks import PartitionRows, partition_day

    counts = {r["values"]: int(r["counts"]) for r in pc.value_counts(names).to_pylist()} if len(names) else {}
    out, offset = [], 0
    for part in partitions:
        rows = counts.get(Path(part).name, 0)
        out.append(PartitionRows(part, partition_day(part), offset, rows))
        offset += rows
    return out


def validate_data(loaded: LoadedSpec, snapshot: dict, *, reference: dict | None = None) -> dict:
    """Run the spec's contract on the snapshot. Raises DataContractError on a blocking failure.

    Every column the spec reads present, binary heads' labels 0/1, GX expectations, the suite's retrain
    checks (row count against the previous partition, event times within their partition's day), one schema
    across the snapshot's files and, with ``validation.drift`` in the spec, PSI per column of the newest
    partition against the champion's training data (``reference``: those statistics, looked up in the registry
    when None).
    The report (JSON and Data Docs) is written under ``report_dir`` before anything is raised, so a
    rejected partition's report is kept; the returned dict carries its paths and this data's
    ``reference_stats`` for the next run.
    """
    from retrain.data.encoding import class_label_problem, numeric_column_problem
    from retrain.data.loading import drop_unlabeled, read_table, unlabeled_per_partition
    from retrain.data.split import (
        PARTITION_COLUMN,
        PARTITIONS_TAG,
        PARTITIONS_WITHOUT_ROWS_TAG,
        partitions_without_rows,
    )
    from retrain.errors import DataReadError, PartitionsIncompatibleError
    from retrain.validation import load_suite, validate_frame
    from retrain.validation.checks import schema_drift
    from retrain.validation.contract import (
        ExpectationFailure,
        ValidationReport,
        add_failures,
        contract_frame,
        write_report,
    )
    from retrain.validation.partitions import (
        for_partial_labels,
        merge_window_and_partitions,
        new_partitions,
        validate_partitions,
    )

    data = DataSnapshot.from_dict(snapshot)
    label = _partition_label(loaded, data)
    suite = load_suite(get_settings().resolve_include_path(loaded.spec.validation.suite))

    out = report_dir(loaded, data)
    empty = ValidationReport(suite=suite.name, partition=label, rows=0, evaluated=1, suite_sha256=suite.sha256)
    watched = watched_columns(loaded.spec, suite)
    try:
        try:
            table = read_table(data.files, partition_column=PARTITION_COLUMN)
        except PartitionsIncompatibleError:  # maybe only in columns nothing reads: read what is read
            if watched is None:
                raise
            table = read_table(data.files, columns=present_columns(data.files, watched), partition_column=PARTITION_COLUMN)
        verify_unchanged(data)  # the bytes just read are the ones check_freshness hashed
    except PartitionsIncompatibleError as exc:  # files that cannot be combined, e.g. a column whose type changed
        table, combine_error = None, str(exc)
    except DataReadError as exc:  # keep a report of the rejected partition even when it cannot be read
        write_report(empty, out, error=str(exc))
        raise
    # a difference in a column that the spec or the suite reads blocks (the message shows every difference: a
    # rename is a missing column beside an unexpected one); one only in other columns is a warning
    drift_all = schema_drift(data.files)
    drift_read = drift_all if drift_all is None or watched is None else schema_drift(data.files, watched)
    built_in_failures = [ExpectationFailure("retrain_schema_consistent", None, "block", drift_all, -1)] if drift_read else []
    if drift_all and not drift_read:
        built_in_failures.append(ExpectationFailure(
            "retrain_schema_consistent", None, "warn",
            f"{drift_all} (columns neither the spec nor the suite reads, so the run goes on)", -1))
    if table is None:
        if not built_in_failures:
            write_report(empty, out, error=combine_error)
            raise DataReadError(f"{label}: the partitions' files cannot be read together ({combine_error})")
        report = add_failures(empty, built_in_failures)
        report.raise_for_blocking(data_docs_url(write_report(report, out)))
    spec = loaded.spec
    absent = [c for c in spec.columns_read if c not in table.column_names]
    if absent:  # caught here, before train takes a worker slot (a GPU one, maybe) only to fail reading
        have = [c for c in table.column_names if c != PARTITION_COLUMN]
        failure = ExpectationFailure("retrain_spec_columns_present", ", ".join(absent), "block",
                                     f"the spec reads {absent}, which the data does not have; it has {have}", -1)
        report = add_failures(replace(empty, rows=table.num_rows), [*built_in_failures, failure])
        report.raise_for_blocking(data_docs_url(write_report(report, out)))
    labels = [h.label for h in spec.heads]
    unlabeled = unlabeled_per_partition(table, labels, PARTITION_COLUMN)
    waiting_for_labels = None
    if spec.data.drop_unlabeled_rows and unlabeled:
        # a row missing some labels trains and judges the other heads; a row with none is dropped
        unlabeled = unlabeled_per_partition(table, labels, PARTITION_COLUMN, every=True)
        log.warning("dropping rows without any label (data.drop_unlabeled_rows): %s", unlabeled)
        landed, table = table, drop_unlabeled(table, labels)
        waiting_for_labels = _waiting_for_labels(landed, partitions_without_rows(list(unlabeled), table))
        suite = for_partial_labels(suite, labels)
        for column in dict.fromkeys(labels):  # labels not landed yet: nothing to train or judge this head on
            if sum(unlabeled_per_partition(table, [column], PARTITION_COLUMN).values()) == table.num_rows:
                built_in_failures.append(ExpectationFailure(
                    "retrain_labeled_rows", column, "block",
                    f"none of the window's {landed.num_rows:,} rows has a value in label column '{column}', so "
                    f"data.drop_unlabeled_rows leaves nothing to train or compare models on: wait for the labels "
                    f"to land, or widen data.training_window_days to reach labeled days", -1))
    binary = {h.label: h.positive for h in spec.heads if h.kind == "binary"}
    classes = {h.label: h.classes for h in spec.heads if h.kind == "multiclass"}
    for name, values in classes.items():
        if problem := class_label_problem(table, name, values):
            built_in_failures.append(ExpectationFailure("retrain_label_in_classes", name, "block", problem, -1))
    for name in dict.fromkeys([*spec.features.numeric, *(c for c in labels if c not in classes)]):
        problem = numeric_column_problem(table, name, binary=name in binary, positive=binary.get(name))
        if problem:
            check = "retrain_binary_label_0_1" if name in binary else "retrain_numeric_values"
            built_in_failures.append(ExpectationFailure(check, name, "block", problem, -1))
    for name in spec.features.columns:  # a column that died upstream: the candidate silently learns without it
        if table.num_rows and table.column(name).null_count == table.num_rows:
            built_in_failures.append(ExpectationFailure(
                "retrain_feature_has_values", name, "warn",
                f"feature '{name}' is null in all {table.num_rows:,} rows of the window: the model learns nothing "
                f"from it (the gate still compares the candidate with the champion)", -1))
    refused = categorical_failures(table, [*spec.features.categorical, *([spec.segments.column] if spec.segments else [])])
    built_in_failures.extend(refused)
    built_in_failures.extend(_identifiers_as_categories(
        table, [c for c in spec.features.categorical if c not in {f.column for f in refused}]))
    built_in_failures.extend(_misnamed_partitions(loaded, data))
    segments = spec.segments
    if segments is not None and segments.values is None and table.num_rows:
        from retrain.data.loading import segment_keys

        missing = segment_keys(table.column(segments.column)).null_count
        if missing:  # a segment model per value: these rows reach none of them
            built_in_failures.append(ExpectationFailure(
                "retrain_segment_has_value", segments.column, "warn",
                f"{missing:,} of {table.num_rows:,} rows have no '{segments.column}' value (null or NaN): no segment "
                "model learns from them", -1))
    parts = _parts(data.partitions, table.column(PARTITION_COLUMN))
    frame = contract_frame(table.drop_columns([PARTITION_COLUMN]))
    window = validate_frame(frame, suite, partition=label, partitions=parts)
    champion, champion_tags = _champion(loaded)
    trained_on = (champion_tags or {}).get(PARTITIONS_TAG)
    no_rows = set(((champion_tags or {}).get(PARTITIONS_WITHOUT_ROWS_TAG) or "").split(","))
    fresh = new_partitions(parts, [p for p in trained_on.split(",") if p not in no_rows] if trained_on else None)
    day_failures, days = validate_partitions(
        frame, suite, fresh, dataset=loaded.spec.data.location, unlabeled=unlabeled, labels=labels,
        drop_unlabeled=spec.data.drop_unlabeled_rows, waiting_for_labels=waiting_for_labels,
    )
    merged = merge_window_and_partitions(window.failures, day_failures)
    report = add_failures(replace(window, failures=[]), [*merged, *built_in_failures])
    extra: dict = {"partitions_checked": days, "unlabeled_rows": unlabeled,
                   "unlabeled_rows_dropped": spec.data.drop_unlabeled_rows}

    drift = loaded.spec.validation.drift
    if drift is not None:
        from retrain.validation.drift import drift_failures, reference_stats

        source = "the reference given"
        if reference is None:
            reference, source = _drift_reference(loaded, champion, champion_tags, drift)
        # The newly arrived partition against the champion's training data: in a sliding window most rows
        # are shared with the champion's, which would dilute a shift of the new day.
        newest = frame.iloc[parts[-1].start:parts[-1].start + parts[-1].rows] if parts else frame
        failures, scores = drift_failures(newest, reference or {}, drift, source)
        unchecked = [c for c in drift.columns if c not in scores]
        not_checked = None
        if unchecked:  # say so loudly: drift on in the spec must never pass silently
            not_checked = (f"drift not checked for {', '.join(unchecked)}: "
                           + (f"{source} has no usable statistics for them" if reference else source))
            log.warning("%s: %s", label, not_checked)
            failures.append(ExpectationFailure("retrain_drift_not_checked", ", ".join(unchecked), "warn",
                                               not_checked, 10_000 + len(drift.columns)))
        report = add_failures(report, failures)
        extra["reference_stats"] = reference_stats(frame, drift.columns, drift.bins)
        extra["drift"] = {"reference": source if scores else None, "psi": scores, "psi_warn": drift.psi_warn,
                          "psi_block": drift.psi_block, "checked": not unchecked, "not_checked": not_checked}

    paths = write_report(report, out, extra=extra)
    for warning in report.warnings:
        log.warning("data contract warning on %s: %s", label, warning)
    log.info("validation report for %s: %s", label, paths.get("data_docs") or paths["json"])
    report.raise_for_blocking(data_docs_url(paths))
    log.info("data contract passed: %d expectations on %d rows of %s", report.evaluated, len(frame), label)
    return {**report.to_dict(), **extra, "report_paths": paths}
