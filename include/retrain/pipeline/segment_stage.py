"""Segment models: one model of the spec's architecture per value of ``segments.column`` (a store, a region).

A DAG run plans the segments into chunks (``plan_chunks``), one mapped task per chunk trains its segments
one after another in the same process (``train_chunk``), and ``report`` sums up. Per segment:

* its own MLflow run (tags ``retrain.segment``, the Airflow run, the chunk's lineage manifest);
* its own registered model ``<spec name>__<segment>`` (``registered_name``), so every segment has its own
  version history and its own ``champion``/``challenger`` aliases, exactly like a single-model spec;
* the single model's recipe from there on: a servable pyfunc model with the sha256 of its files, then
  ``gating_stage`` evaluate, gate, and promote (promotion lock, alias history, artifact check) or reject;
* failures are caught and recorded: one failing segment does not stop the chunk or the other chunks.

The data is read once per chunk; the freshness check and the data contract run once per DAG run, upstream.
A retry of a chunk skips the segments already finished in the same Airflow run (found by tags).

Torch's intra-op threads in a chunk are the cores shared out among the chunks that run at once
(``chunk_threads``): segment models are small, and ``RETRAIN_SEGMENT_PARALLELISM`` chunk processes each
running torch's default of one thread per core oversubscribe the cores. On the two-core development machine,
two chunk processes at once trained 6-8x faster per model with one thread each than with two
(``docs/benchmarks.md``, segment models).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import time
import traceback
from pathlib import Path

from retrain.config import LoadedSpec, ModelSpec
from retrain.contracts import RunInfo
from retrain.data.freshness import DataSnapshot
from retrain.settings import get_settings
from retrain.tracking import tags

log = logging.getLogger(__name__)

MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default
SEGMENT_TAG = tags.SEGMENT
OUTCOME_TAG = "retrain.segment_outcome"


class SegmentFailures(Exception):
    """Some segments failed; the others were trained, tracked and gated."""

    def __init__(self, message: str, *, digest_sent: bool = False) -> None:
        super().__init__(message)
        self.digest_sent = digest_sent
        """The run's digest already named the failed segments in Slack: no second, generic alert."""


MIN_SEGMENT_ROWS = 10  # fewer cannot give both a training and a holdout split


def registered_name(spec: ModelSpec, segment: str) -> str:
    """``<model>__<segment>``. A segment with characters MLflow names dislike gets them replaced and a hash of
    its value appended, so two segments never share a model ('New York' and 'New_York', or '北京' and '上海')."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", segment)
    if clean != segment:
        clean += "-" + hashlib.sha256(segment.encode()).hexdigest()[:8]
    return f"{spec.registered_model_name}__{clean}"


def chunk(segments: list[str], max_per_task: int, max_map_length: int = MAX_MAP_LENGTH) -> list[list[str]]:
    """Split into at most ``max_map_length`` chunks of at most ``max_per_task`` segments; when that would
    need more than ``max_map_length`` chunks, chunks grow instead (5,000 segments, 1 per task -> 1,000 x 5)."""
    if not segments:
        return []
    size = max(max_per_task, math.ceil(len(segments) / max_map_length))
    return [segments[i : i + size] for i in range(0, len(segments), size)]


def segment_values(spec: ModelSpec, snapshot: DataSnapshot) -> list[str]:
    import pyarrow.compute as pc

    from retrain.data.loading import read_table, segment_keys

    if spec.segments.values is not None:
        return list(spec.segments.values)
    keys = segment_keys(read_table(snapshot.files, columns=[spec.segments.column]).column(spec.segments.column))
    if keys.null_count:
        log.warning("%d of %d rows have no '%s' value (null or NaN): they belong to no segment and train no model",
                    keys.null_count, len(keys), spec.segments.column)
    return sorted(pc.unique(pc.drop_null(keys)).to_pylist())


def plan_chunks(loaded: LoadedSpec, snapshot_dict: dict) -> list[list[str]]:
    spec = loaded.spec
    snapshot = DataSnapshot.from_dict(snapshot_dict)
    segments = segment_values(spec, snapshot)
    if not segments:  # a run that trains nothing must not end green
        from retrain.errors import DataReadError

        raise DataReadError(f"{snapshot.label}: the segment column '{spec.segments.column}' holds no value, so there "
                            f"is no segment to train")
    chunks = chunk(segments, spec.segments.max_per_task)
    log.info("%d segments of %s in %d chunks", len(segments), spec.segments.column, len(chunks))
    return chunks


def chunk_threads() -> int:
    """Torch intra-op threads for one chunk: the machine's cores over the chunks that run at once."""
    return max(1, (os.cpu_count() or 1) // max(1, get_settings().segment_parallelism))


def _read(spec: ModelSpec, snapshot: DataSnapshot):
    from retrain.data.freshness import verify_unchanged
    from retrain.data.loading import read_table
    from retrain.data.split import PARTITION_COLUMN

    table = read_table(snapshot.files, columns=spec.columns_read, partition_column=PARTITION_COLUMN)
    verify_unchanged(snapshot)
    if spec.data.drop_unlabeled_rows:
        from retrain.data.loading import drop_unlabeled

        table = drop_unlabeled(table, [h.label for h in spec.heads])
    return table


def train_chunk(loaded: LoadedSpec, snapshot_dict: dict, segments: list[str], run: RunInfo,
                promote: str = "auto", data_warnings: list[str] = ()) -> list[dict]:
    """Train, track and gate each segment of the chunk in turn. Returns one outcome per segment:
    ``{"segment", "status": promoted|rejected|failed, "run_id", "version", "error", "seconds"}``.
    ``promote="never"`` (the trigger form): gate and record, move no champion (only "auto" moves one).
    ``data_warnings`` (the data contract's, ``training_stage.data_warnings``) are tagged on every segment's run."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from retrain.data.loading import segment_keys
    from retrain.tracking import mlflow_store
    from retrain.tracking.lineage import build_manifest
    from retrain.training.devices import resolve_device

    spec, settings = loaded.spec, get_settings()
    snapshot = DataSnapshot.from_dict(snapshot_dict)
    client = mlflow_store.connect(settings)
    exp_id = mlflow_store.experiment_id(client, settings, mlflow_store.segments_experiment(spec.name))
    done = _finished_segments(client, exp_id, run)
    manifest = build_manifest(loaded, snapshot, run, settings, resolve_device(spec.training.device, spec.resources.gpu))
    table = _read(spec, snapshot)
    keys = segment_keys(table.column(spec.segments.column))
    table = table.filter(pc.is_in(keys, value_set=pa.array(segments, pa.string())))  # this chunk's rows only
    keys = segment_keys(table.column(spec.segments.column))
    outcomes = []
    with _torch_threads(chunk_threads()):
        for segment in segments:
            if segment in done:
                log.info("segment %s already finished in this Airflow run: %s", segment, done[segment]["status"])
                outcomes.append(done[segment])
                continue
            started = time.perf_counter()
            try:
                rows = table.filter(pc.equal(keys, segment))
                outcome = _train_segment(client, exp_id, loaded, snapshot, segment, rows, run, manifest, promote,
                                         data_warnings)
            except Exception as exc:  # one segment's failure must not stop the others
                log.error("segment %s failed: %s", segment, exc, exc_info=True)
                outcome = {"segment": segment, "status": "failed", "run_id": None, "version": None,
                           "error": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc(limit=3)}
            outcome["seconds"] = round(time.perf_counter() - started, 3)
            outcomes.append(outcome)
    return outcomes


@contextlib.contextmanager
def _torch_threads(threads: int):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _finished_segments(client, exp_id: str, run: RunInfo) -> dict[str, dict]:
    escaped = run.run_id.replace("'", "\\'")
    found = client.search_runs(
        [exp_id], filter_string=f"tags.`airflow.dag_id` = '{run.dag_id}' and tags.`airflow.run_id` = '{escaped}'",
        max_results=50_000,
    )
    return {r.data.tags[SEGMENT_TAG]: json.loads(r.data.tags[OUTCOME_TAG]) for r in found
            if OUTCOME_TAG in r.data.tags and SEGMENT_TAG in r.data.tags}


def _train_segment(client, exp_id: str, loaded: LoadedSpec, snapshot: DataSnapshot, segment: str, rows, run: RunInfo,
                   manifest: dict, promote: str = "auto", data_warnings: list[str] = ()) -> dict:
    """One segment through the same recipe as a single model: a servable pyfunc model with its sha256, then
    gating_stage's evaluate, gate and promote (lock, history, artifact check) or reject. Its run records
    what it used and cost, like a single model's train run (``retrain costs``)."""
    from retrain.data import split
    from retrain.pipeline import gating_stage
    from retrain.pipeline.training_stage import _params, build_and_fit, log_servable_model, too_few_steps
    from retrain.tracking import costs, mlflow_store
    from retrain.tracking.lineage import MANIFEST_PATH, manifest_tags
    from retrain.training.devices import resolve_device
    from retrain.training.usage import ResourceMeter

    spec, settings = loaded.spec, get_settings()
    if rows.num_rows < MIN_SEGMENT_ROWS:
        from retrain.errors import DataReadError

        window = Path(snapshot.partitions[0]).name + (
            f"..{Path(snapshot.partitions[-1]).name}" if len(snapshot.partitions) > 1 else "")
        listed = ", though segments.values lists it" if spec.segments.values and not rows.num_rows else ""
        raise DataReadError(f"segment {segment!r} has {'no' if not rows.num_rows else f'only {rows.num_rows}'} rows in "
                            f"the window ({window}){listed}; a segment model needs at least {MIN_SEGMENT_ROWS}")
    device = resolve_device(spec.training.device, spec.resources.gpu)
    meter = ResourceMeter(device, queue=spec.resources.worker_queue, gpus=spec.resources.gpus)
    rule = split.rule_for(spec)
    partitions = [Path(p).name for p in snapshot.partitions]
    train_table, holdout_table = split.split(rows, rule, partitions)
    name = registered_name(spec, segment)
    # the segment's own spec: its registered name, and its one value (shadow mode scores that segment's rows)
    segment_loaded = dataclasses.replace(loaded, spec=spec.model_copy(update={
        "name": name, "segments": spec.segments.model_copy(update={"values": [segment]})}))
    run_tags = {**run.tags(), **manifest_tags(manifest), tags.MODEL: spec.name, SEGMENT_TAG: segment,
                "retrain.registered_model": name, split.RULE_TAG: rule.to_tag(), costs.RUN_KIND: "train"}
    without_rows = split.partitions_without_rows(partitions, train_table, holdout_table)
    if without_rows:  # days this segment had no row on: the next run's gate counts what this model trained on
        run_tags[split.PARTITIONS_WITHOUT_ROWS_TAG] = ",".join(without_rows)
    note = too_few_steps(train_table.num_rows, spec.training.batch_size, spec.training.epochs)
    if note:  # a segment's few rows in the whole table's batch size: often one step an epoch
        run_tags[tags.TRAINING_NOTE] = note
    if data_warnings:  # the window's, the same on every segment's run: the summary reads them from any
        run_tags[tags.DATA_WARNINGS] = json.dumps(list(data_warnings))[:4500]
    run_id = client.create_run(exp_id, run_name=f"{name} {run.as_of:%Y-%m-%d}", tags=run_tags).info.run_id
    try:
        bundle, history = build_and_fit(spec, train_table, holdout_table, device,
                                        on_epoch=lambda _: meter.epoch_done(train_table.num_rows))
        client.log_dict(run_id, manifest, MANIFEST_PATH)
        trained = {"run_id": run_id, "experiment_id": exp_id, "manifest": manifest, "validation": None,
                   "model_uri": log_servable_model(client, run_id, exp_id, spec, bundle, holdout_table)[0]}
        usage = meter.usage()
        trained["cost_usd"] = usage.cost_usd(settings.prices)
        mlflow_store.log_batch(client, run_id, usage.metrics(settings.prices),
                               {**_params(spec, snapshot), "segment_rows": rows.num_rows},
                               costs.usage_tags(usage.queue),
                               series=[(k, v, r.epoch) for r in history for k, v in
                                       (("train_loss", r.train_loss), ("holdout_loss", r.holdout_loss)) if v is not None])
        evaluation = gating_stage.evaluate(segment_loaded, snapshot.to_dict(), trained, holdout=holdout_table,
                                           plots=False)
        decision = gating_stage.gate(segment_loaded, evaluation, trained)
        if decision["promote"] and promote == "auto":
            result = gating_stage.promote(segment_loaded, trained, evaluation, decision,
                                          actor=f"airflow:{run.dag_id}/{run.run_id}")
        else:
            result = gating_stage.reject(segment_loaded, trained, evaluation, decision)
            if decision["promote"]:  # held: the trigger form said promote=never
                from retrain.pipeline.approval import record_hold

                result["reasons"] = [record_hold(name, evaluation["challenger_version"], run_id)]
        status = "promoted" if result["promoted"] else "shadow" if result.get("shadow") else "rejected"
        outcome = {"segment": segment, "status": status, "run_id": run_id,
                   "version": evaluation["challenger_version"], "error": None, "cost_usd": trained["cost_usd"],
                   "reasons": [*decision["reasons"],
                               *(r for r in result.get("reasons") or [] if r not in decision["reasons"])]}
        client.set_tag(run_id, OUTCOME_TAG, json.dumps(outcome))
        client.set_terminated(run_id, "FINISHED")
        return outcome
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise


def with_unfinished(outcomes: list[list[dict]], planned: list[list[str]]) -> list[dict]:
    """Every chunk's outcomes, plus a failed one for each planned segment that has none (its chunk task crashed
    or never ran), so the digest names it and no run ends green with segments it did not train."""
    flat = [o for chunk_outcomes in outcomes for o in chunk_outcomes]
    reported = {o["segment"] for o in flat}
    return flat + [{"segment": s, "status": "failed", "run_id": None, "version": None,
                    "error": "not trained: its chunk task did not finish"}
                   for chunk_segments in planned for s in chunk_segments if s not in reported]


def report(outcomes: list[list[dict]], *, digest_sent: bool = False) -> dict:
    """Sum up all chunks; raise SegmentFailures naming the failed segments (after the others are done)."""
    flat = [o for chunk_outcomes in outcomes for o in chunk_outcomes]
    summary = {status: sorted(o["segment"] for o in flat if o["status"] == status)
               for status in ("promoted", "shadow", "rejected", "failed")}
    counts = {status: len(segments) for status, segments in summary.items()}
    log.info("segments: %s", counts)
    if summary["failed"]:
        errors = {o["segment"]: o["error"] for o in flat if o["status"] == "failed"}
        raise SegmentFailures(f"{counts['failed']} of {len(flat)} segments failed: "
                              + "; ".join(f"{s}: {e}" for s, e in list(errors.items())[:20]),
                              digest_sent=digest_sent)
    return {**counts, "failed_segments": summary["failed"]}
