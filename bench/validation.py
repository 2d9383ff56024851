"""Validation speed: the GX suite against the same checks written as vectorised pyarrow, in the same run.

    python -m bench.validation          # 10,000,000 rows (BENCH_VALIDATION_ROWS to change)
    python -m bench validation          # through make bench

Data: demo impressions generated once in 1,000,000-row chunks (one parquet file per chunk, so memory stays
flat while writing) and cached under .local/bench/validation/<rows>/. Both sides see the same data: GX the
pandas frame validate_data gives it (the to_pandas conversion is timed separately), the baseline the arrow
table. Ours = GX rows/s, baseline = pyarrow rows/s, ratio = GX / baseline (goal >= 0.5: GX within 2x).
GX runs as validate_data runs it (BASIC over every expectation, SUMMARY again for failed ones) and, for
reference, as one SUMMARY pass (before the change). ``BENCH_VALIDATION_REPEATS`` (default 2): best of.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("BENCH_VALIDATION_ROWS", "10000000"))
CHUNK = 1_000_000
REPEATS = int(os.environ.get("BENCH_VALIDATION_REPEATS", "2"))
SUITE = ROOT / "include" / "expectations" / "ecommerce_impressions.yaml"


def data_files(rows: int = ROWS) -> list[Path]:
    import pyarrow.parquet as pq
    from retrain_demo.data import generate_day

    folder = ROOT / ".local" / "bench" / "validation" / str(rows)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, start in enumerate(range(0, rows, CHUNK)):
        path = folder / f"part-{i:05d}.parquet"
        if not path.exists():
            table = generate_day(date(2026, 1, 1) + timedelta(days=i), min(CHUNK, rows - start))
            pq.write_table(table, str(path) + ".tmp")
            os.replace(str(path) + ".tmp", path)
        files.append(path)
    return files


def vectorised(table: Any, suite: Any) -> list[int]:
    """The suite's GX expectations as pyarrow compute kernels, one pass per expectation (indexes that failed)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    failed = []
    n = table.num_rows
    for e in suite.expectations:
        kw, col = e.kwargs, e.kwargs.get("column")
        c = table.column(col) if col in table.column_names else None
        mostly = kw.get("mostly", 1.0)
        ok = True
        match e.expect:
            case "column_to_exist":
                ok = c is not None
            case "column_values_to_be_in_type_list":
                ok = c is not None and np.dtype(c.type.to_pandas_dtype()).name in kw["type_list"]
            case "table_row_count_to_be_between":
                ok = (kw.get("min_value") is None or n >= kw["min_value"]) and (
                    kw.get("max_value") is None or n <= kw["max_value"])
            case "column_values_to_be_unique":
                ok = pc.count_distinct(c, mode="only_valid").as_py() == n - c.null_count
            case "column_values_to_not_be_null":
                ok = (n - c.null_count) >= mostly * n
            case "column_values_to_be_between":
                bad = pa.scalar(False)
                if kw.get("min_value") is not None:
                    bad = (pc.less_equal if kw.get("strict_min") else pc.less)(c, kw["min_value"])
                if kw.get("max_value") is not None:
                    hi = (pc.greater_equal if kw.get("strict_max") else pc.greater)(c, kw["max_value"])
                    bad = pc.or_(bad, hi)
                ok = pc.sum(bad).as_py() in (None, 0)
            case "column_values_to_be_in_set":
                inside = pc.sum(pc.is_in(c, value_set=pa.array(kw["value_set"], type=c.type))).as_py() or 0
                ok = inside >= mostly * (n - c.null_count)
            case "column_pair_values_a_to_be_greater_than_b":
                op = pc.greater_equal if kw.get("or_equal") else pc.greater
                ok = pc.all(op(table.column(kw["column_A"]), table.column(kw["column_B"]))).as_py()
            case "column_median_to_be_between":
                median = pc.approximate_median(c).as_py()
                ok = kw["min_value"] <= median <= kw["max_value"]
            case _:
                raise NotImplementedError(e.expect)
        if not ok:
            failed.append(e.index)
    return failed


def run(rows: int = ROWS, repeats: int = REPEATS) -> list[Result]:
    from retrain.data.loading import read_table
    from retrain.validation import load_suite, validate_frame

    suite = load_suite(SUITE)
    started = time.perf_counter()
    files = data_files(rows)
    print(f"  data: {rows:,} rows in {len(files)} files ({time.perf_counter() - started:.1f}s incl. generation)",
          flush=True)
    table = read_table([str(f) for f in files])
    frame = table.to_pandas()
    validate_frame(frame.head(1000), suite, partition="warm-up")  # GX import and first-use costs

    # (label, callable): ours as the pipeline runs it (validate_data: BASIC pass, SUMMARY for failures),
    # the single SUMMARY pass it replaced, and the baseline; interleaved, best of `repeats`.
    sides = {
        "to_pandas": lambda: table.to_pandas().shape,  # what validate_data does before GX; frame dropped
        "pyarrow": lambda: vectorised(table, suite),
        "default": lambda: validate_frame(frame, suite, partition="bench"),
        "SUMMARY": lambda: validate_frame(frame, suite, partition="bench", result_format="SUMMARY"),
    }
    seconds = {k: float("inf") for k in sides}
    outputs: dict[str, Any] = {}
    for _ in range(repeats):
        for label, fn in sides.items():
            t0 = time.perf_counter()
            outputs[label] = fn()
            seconds[label] = min(seconds[label], time.perf_counter() - t0)
            print(f"    {label}: {time.perf_counter() - t0:.2f}s", flush=True)
    base_s, base_failed, to_pandas_s = seconds["pyarrow"], sorted(outputs["pyarrow"]), seconds["to_pandas"]
    results = []
    for label, name in (("default", "BASIC, SUMMARY for failures"), ("SUMMARY", "one SUMMARY pass")):
        gx_s = seconds[label]
        gx_failed = sorted(f.index for f in outputs[label].failures)
        agree = "same verdicts" if gx_failed == base_failed else f"DIFFER gx={gx_failed} base={base_failed}"
        results.append(Result(
            f"validation {rows / 1e6:g}M rows: GX ({name}) vs pyarrow", rows / gx_s, rows / base_s, "rows/s", 0.5,
            f"{len(suite.expectations)} checks; GX {gx_s:.2f}s, pyarrow {base_s:.2f}s, best of {repeats}; "
            f"{agree}; to_pandas {to_pandas_s:.2f}s (best of {repeats}) not in GX time (with it: ratio "
            f"{base_s / (gx_s + to_pandas_s):.2f}x)",
        ))
    return results


def main() -> int:
    from bench.__main__ import machine, table

    print(f"machine: {machine()}", flush=True)
    print(table(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
