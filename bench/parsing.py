"""Parsing the model DAG file with many specs: task start, full parse, and the spec loading inside it.

Copies of the demo spec (``include/specs/ecommerce_esmm.yaml``, each with its own name) in folders of
``BENCH_PARSE_SPECS`` (default 10,000) and ``BENCH_FULL_PARSE_SPECS`` (default 1,000) files; everything in
this process, after the imports (the imports are the same for every size).

* task start: ``build_all()`` as a task process runs it (Airflow's parsing context names one DAG) with
  10,000 specs in the folder, against the same with 1 spec. Goal: at most 1.2x the time (ratio >= 0.83).
* full parse: ``build_all()`` without a context (the dag-processor's parse) of 1,000 specs; specs per
  second against the goal of 1,000/s (10,000 specs in 10 s). Before the parsing context every task start
  paid this too.
* spec loading: ``discover_specs`` of the same 1,000 specs with libyaml's loader (ours) against PyYAML's
  pure-Python one (before): CPU seconds, which is what the dag-processor spends on them every 30 s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml

from bench.common import REPEATS, Result

ROOT = Path(__file__).resolve().parents[1]
TASK_START_SPECS = int(os.environ.get("BENCH_PARSE_SPECS", "10000"))
FULL_PARSE_SPECS = int(os.environ.get("BENCH_FULL_PARSE_SPECS", "1000"))


def write_specs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "include/specs/ecommerce_esmm.yaml").read_text()
    spec = yaml.safe_load(text)
    for i in range(count):
        (folder / f"model_{i:05d}.yaml").write_text(yaml.safe_dump(dict(spec, name=f"model_{i:05d}")))
    return folder


def _parse(specs_dir: Path, dag_id: str | None) -> dict:
    from retrain.orchestration.dag_factory import build_all

    if dag_id:
        os.environ["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = dag_id  # what Airflow's task runner sets
        os.environ["_AIRFLOW_PARSING_CONTEXT_TASK_ID"] = "train"
    try:
        return build_all(specs_dir)
    finally:
        os.environ.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
        os.environ.pop("_AIRFLOW_PARSING_CONTEXT_TASK_ID", None)


def _cpu(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(tmp: Path) -> list[Result]:
    from retrain import config

    many = write_specs(tmp / "specs-many", TASK_START_SPECS)
    one = write_specs(tmp / "specs-one", 1)
    full = write_specs(tmp / "specs-full", FULL_PARSE_SPECS) if FULL_PARSE_SPECS != TASK_START_SPECS else many
    target = f"retrain_model_{TASK_START_SPECS // 2:05d}"
    assert list(_parse(many, target)) == [target] and list(_parse(one, "retrain_model_00000")) == ["retrain_model_00000"]

    t_many, t_one = [], []
    for _ in range(max(REPEATS, 5)):
        for specs_dir, dag_id, bucket in ((many, target, t_many), (one, "retrain_model_00000", t_one)):
            started = time.perf_counter()
            _parse(specs_dir, dag_id)
            bucket.append(time.perf_counter() - started)
    task_many, task_one = min(t_many), min(t_one)

    full_wall, full_cpu = min((_cpu(lambda: _parse(full, None)) for _ in range(2)), key=lambda t: t[0])
    n_dags = len(_parse(full, None))
    assert n_dags == FULL_PARSE_SPECS, n_dags

    fast, slow = [], []
    for _ in range(REPEATS):
        for loader, bucket in ((config._YAML_LOADER, fast), (yaml.SafeLoader, slow)):
            saved, config._YAML_LOADER = config._YAML_LOADER, loader
            try:
                bucket.append(_cpu(lambda: config.discover_specs(full))[1])
            finally:
                config._YAML_LOADER = saved
    load_fast, load_slow = min(fast), min(slow)
    print(f"  task start: {TASK_START_SPECS:,} specs {task_many * 1e3:.1f} ms, 1 spec {task_one * 1e3:.1f} ms; "
          f"full parse of {FULL_PARSE_SPECS:,}: {full_wall:.2f}s wall, {full_cpu:.2f}s CPU; "
          f"spec loading CPU {load_fast:.2f}s (libyaml) vs {load_slow:.2f}s (pure Python)", flush=True)
    per_spec = full_wall / FULL_PARSE_SPECS
    return [
        Result(f"task start: parse for one DAG, {TASK_START_SPECS:,} specs vs 1", 1 / task_many, 1 / task_one,
               "parses/s", 1 / 1.2,
               f"{task_many * 1e3:.1f} ms vs {task_one * 1e3:.1f} ms after the imports (parsing context); before it a "
               f"task start parsed every spec: ≈{per_spec * TASK_START_SPECS:.0f}s at this size (full parse rate below)"),
        Result(f"full parse (dag-processor), {FULL_PARSE_SPECS:,} specs", FULL_PARSE_SPECS / full_wall, 1000.0,
               "specs/s", 1.0,
               f"{full_wall:.2f}s wall, {full_cpu:.2f}s CPU, {per_spec * 1e3:.1f} ms a spec; 10,000 specs ≈ "
               f"{per_spec * 10_000:.0f}s (dagbag_import_timeout 30s); baseline column = the goal (1 ms a spec)"),
        Result(f"spec loading CPU, {FULL_PARSE_SPECS:,} specs: libyaml vs pure-Python YAML", 1 / load_fast,
               1 / load_slow, "1/CPU s", None,
               f"{load_fast:.2f}s vs {load_slow:.2f}s CPU for discover_specs (read, YAML, pydantic); the rest of a full "
               "parse is building the Airflow DAGs"),
    ]
