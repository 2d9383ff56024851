"""Segment models on a real Airflow: scheduler, dag-processor, api-server, triggerer and LocalExecutor
(``retrain.local_airflow.LocalAirflow``), one DAG run of a segment spec, from trigger to the end of the run.

Opt-in, as it takes minutes: ``python -m bench segments_scheduler`` (``BENCH_SEGMENTS`` segments, default 100;
``BENCH_PARALLELISM`` executor slots, default 2). Airflow's own start-up is not counted.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]


def run(tmp: Path) -> list[Result]:
    from retrain.local_airflow import LocalAirflow

    from bench import segments

    segments.SEGMENTS = int(os.environ.get("BENCH_SEGMENTS", str(segments.SEGMENTS)))
    segments.END = datetime.now(UTC).date() - timedelta(days=1)
    root = tmp / "scheduler"
    segments._write(root / "data")
    spec = yaml.safe_load((ROOT / "include/specs/ecommerce_dwell_time.yaml").read_text())
    spec["name"] = "bench_segments"
    spec["schedule"] = {"cron": None}
    spec["segments"] = {"column": "store_id", "max_per_task": 50}
    spec["training"].update(epochs=3, batch_size=128, device="cpu")
    spec["architecture"]["hidden_units"] = [16]
    spec["data"]["freshness"] = {"max_age_hours": 72, "min_rows": 100}
    spec["validation"]["suite"] = str(ROOT / "include" / spec["validation"]["suite"])
    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "specs" / "bench_segments.yaml").write_text(yaml.safe_dump(spec))
    parallelism = int(os.environ.get("BENCH_PARALLELISM", "2"))
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "RETRAIN_SPECS_DIR": str(root / "specs"),
        "RETRAIN_DATA_ROOT": str(root / "data"),
        "RETRAIN_LOCAL_STATE": str(root / "state"),
        "RETRAIN_SLACK_OUTBOX": str(root / "state" / "slack-outbox.jsonl"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'state' / 'mlflow.db'}",
        "RETRAIN_SEGMENT_PARALLELISM": str(parallelism),
    }
    with LocalAirflow(root, env=env, parallelism=parallelism) as airflow:
        dag_id = "retrain_bench_segments"
        airflow.wait_for_dag(dag_id, timeout=300)
        started = time.perf_counter()
        run_id = airflow.api.trigger(dag_id)["dag_run_id"]
        ended = airflow.wait_for(
            lambda: next((r for r in airflow.api.dag_runs(dag_id)
                          if r["dag_run_id"] == run_id and r["state"] in ("success", "failed")), None),
            timeout=3600, what="the segment run to end", interval=5,
        )
        seconds = time.perf_counter() - started
        states = airflow.api.task_instances(dag_id, run_id)
    models = segments.SEGMENTS
    print(f"  scheduler run {ended['state']} in {seconds:.0f}s; tasks: "
          + ", ".join(f"{k}={v.get('state')}" for k, v in list(states.items())[:8]), flush=True)
    return [Result(f"(e') segment models, Airflow scheduler+LocalExecutor ({models})", models / seconds * 3600,
                   1000.0, "models/h", 1.0,
                   note=f"run {ended['state']} in {seconds:.0f}s from trigger (freshness, contract, "
                        f"{-(-models // 50)} mapped chunks on {parallelism} slots, report); baseline = the goal")]
