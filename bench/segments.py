"""Segment models end to end, in process: freshness, data contract, then chunks of small segment models,
each trained, tracked in its own MLflow run, registered and gated (``retrain.pipeline.segment_stage``).

This measures the chunk path that each mapped Airflow task runs, not a scheduler run: scheduler and
executor overhead (a task process per chunk) comes on top, once per chunk of ``max_per_task`` segments.
``BENCH_SEGMENTS`` (default 1,000, as in issue 5) sets how many segments; models per hour = segments / wall time.
"""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.common import Result

SEGMENTS = int(os.environ.get("BENCH_SEGMENTS", "1000"))
ROWS_PER_SEGMENT = 400
DAYS = 2
END = date(2026, 2, 27)


def _write(root: Path) -> None:
    import pyarrow as pa
    from retrain.data.landing import write_partition
    from retrain_demo.data import DEMO_DATASET, generate_day

    per_day = SEGMENTS * ROWS_PER_SEGMENT // DAYS
    for offset in range(DAYS):
        day = END - timedelta(days=offset)
        table = generate_day(day, per_day)
        stores = np.random.default_rng(offset).integers(0, SEGMENTS, size=per_day)
        table = table.append_column("store_id", pa.array([f"store_{s:05d}" for s in stores]))
        write_partition(table, root / DEMO_DATASET, day)


def run(tmp: Path) -> list[Result]:
    os.environ["RETRAIN_DATA_ROOT"] = str(tmp / "segments-data")
    os.environ["RETRAIN_LOCAL_STATE"] = str(tmp / "segments-state")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'segments-state' / 'mlflow.db'}"
    from retrain.config import SegmentsSpec, load_spec
    from retrain.contracts import RunInfo
    from retrain.pipeline import segment_stage
    from retrain.pipeline.data_stages import check_freshness, validate_data

    _write(tmp / "segments-data")
    loaded = load_spec(Path(__file__).resolve().parents[1] / "include" / "specs" / "ecommerce_dwell_time.yaml")
    spec = loaded.spec.model_copy(update={
        "segments": SegmentsSpec(column="store_id", max_per_task=50),
        "training": loaded.spec.training.model_copy(update={"epochs": 3, "batch_size": 128, "device": "cpu"}),
        "architecture": loaded.spec.architecture.model_copy(update={"hidden_units": [16]}),
        "data": loaded.spec.data.model_copy(update={
            "freshness": loaded.spec.data.freshness.model_copy(update={"min_rows": 100})}),
    })
    loaded = dataclasses.replace(loaded, spec=spec)
    as_of = datetime(END.year, END.month, END.day, tzinfo=UTC) + timedelta(days=1)
    started = time.perf_counter()
    snapshot = check_freshness(loaded, as_of)
    validate_data(loaded, snapshot)
    data_seconds = time.perf_counter() - started
    chunks = segment_stage.plan_chunks(loaded, snapshot)
    run_info = RunInfo(spec.dag_id, "manual__bench", 1, as_of)
    outcomes = [segment_stage.train_chunk(loaded, snapshot, c, run_info) for c in chunks]
    seconds = time.perf_counter() - started
    flat = [o for c in outcomes for o in c]
    failed = sum(o["status"] == "failed" for o in flat)
    per_model = np.mean([o["seconds"] for o in flat])
    statuses = {status: sum(o["status"] == status for o in flat) for status in ("promoted", "rejected")}
    per_hour = (len(flat) - failed) / seconds * 3600  # failed segments do not count as models
    return [Result(f"(e) segment models, in-process chunks ({len(flat) - failed} of {len(flat)})", per_hour, 1000.0,
                   "models/h", 1.0,
                   note=f"{seconds:.0f}s total: freshness+contract {data_seconds:.1f}s once, {per_model:.2f}s per "
                        f"model ({ROWS_PER_SEGMENT} rows, 3 epochs, MLflow run, registry, gate); {statuses}, {failed} failed "
                        "(not counted); baseline column = the goal (1,000/h); NOT a scheduler run")]
