"""Segment models on a real Airflow: scheduler, dag-processor, api-server, triggerer and LocalExecutor
(``retrain_demo.local_airflow.LocalAirflow``), one DAG run of a segment spec, from trigger to the end of the run.

Opt-in, as it takes minutes: ``python -m bench segments_scheduler`` (``BENCH_SEGMENTS`` segments, default 1,000;
``BENCH_PARALLELISM`` executor slots, default 2). Airflow's own start-up is not counted.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]


def run(tmp: Path) -> list[Result]:
    from retrain_demo.local_airflow import LocalAirflow

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
    models = segments.SEGMENTS
    parallelism = int(os.environ.get("BENCH_PARALLELISM", "2"))
    env = {**airflow_env(root), "RETRAIN_SEGMENT_PARALLELISM": str(parallelism)}
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
        quoted = urllib.parse.quote(run_id, safe="")
        tasks = airflow.api.call("GET", f"dags/{dag_id}/dagRuns/{quoted}/taskInstances",
                                 limit=1000)["task_instances"]
        in_segments = _seconds_in_segments(airflow, dag_id, quoted, tasks)
    outcomes = _outcomes(env["MLFLOW_TRACKING_URI"], run_id)
    done = sum(outcomes.get(s, 0) for s in ("promoted", "shadow", "rejected"))  # trained, tracked, registered, gated
    chunks = [t for t in tasks if t["task_id"] == "train_chunk"]
    states = Counter(f"{t['task_id']}={t['state']}" for t in tasks)
    phases = _phases(tasks)
    chunk_busy = sum(_duration(t) for t in chunks)
    if in_segments is not None:
        phases += (f"; of the chunks' {chunk_busy:.0f}s, {in_segments:.0f}s in the segments (train, MLflow run, "
                   f"registry, gate: {in_segments / max(models, 1):.2f}s per model), {chunk_busy - in_segments:.0f}s "
                   f"per-chunk overhead ({(chunk_busy - in_segments) / max(len(chunks), 1):.1f}s per chunk: task "
                   "process, imports, MLflow connection, reading the data)")
    print(f"  scheduler run {ended['state']} in {seconds:.0f}s; task states: {dict(states)}", flush=True)
    print(f"  segment outcomes in MLflow: {outcomes}", flush=True)
    print(f"  phases: {phases}", flush=True)
    return [Result(f"(e') segment models, Airflow scheduler+LocalExecutor ({done} of {models})",
                   done / seconds * 3600, 1000.0, "models/h", 1.0,
                   note=f"run {ended['state']} in {seconds:.0f}s from trigger to run end; {len(chunks)} mapped "
                        f"chunks on {parallelism} slots; outcomes {outcomes}; {phases}; "
                        "only promoted, shadow and rejected segments counted; baseline = issue 5's goal (issue 17 asks 50,000/h)")]


def airflow_env(root: Path) -> dict[str, str]:
    """The project's DAGs and plugins on specs, data and state under ``root``; new DAGs start unpaused."""
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "RETRAIN_SPECS_DIR": str(root / "specs"),
        "RETRAIN_DATA_ROOT": str(root / "data"),
        "RETRAIN_LOCAL_STATE": str(root / "state"),
        "RETRAIN_SLACK_OUTBOX": str(root / "state" / "slack-outbox.jsonl"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'state' / 'mlflow.db'}",
    }


def _outcomes(tracking_uri: str, run_id: str) -> dict[str, int]:
    """Segment outcomes recorded in MLflow for this Airflow run (status tag of each segment's run)."""
    import json

    from mlflow import MlflowClient
    from retrain.pipeline.segment_stage import OUTCOME_TAG

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("bench_segments__segments")
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], max_results=50_000,
                              filter_string=f"tags.`airflow.run_id` = '{run_id}'")
    return dict(Counter(json.loads(r.data.tags[OUTCOME_TAG])["status"] if OUTCOME_TAG in r.data.tags
                        else "no outcome" for r in runs))


def _duration(task: dict) -> float:
    if not (task.get("start_date") and task.get("end_date")):
        return 0.0
    return (datetime.fromisoformat(task["end_date"]) - datetime.fromisoformat(task["start_date"])).total_seconds()


def _seconds_in_segments(airflow, dag_id: str, quoted_run: str, tasks: list[dict]) -> float | None:
    """Sum of the per-segment seconds the chunks returned (their XCom), None when it cannot be read."""
    import ast
    import json

    total = 0.0
    try:
        for task in tasks:
            if task["task_id"] != "train_chunk":
                continue
            entry = airflow.api.call(
                "GET", f"dags/{dag_id}/dagRuns/{quoted_run}/taskInstances/train_chunk/xcomEntries/return_value",
                map_index=task["map_index"], deserialize="true")
            value = entry["value"]
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = ast.literal_eval(value)
            total += sum(float(o["seconds"]) for o in value)
    except Exception as exc:  # the breakdown is a convenience; the wall time above is the figure
        print(f"  (no per-segment seconds from XCom: {type(exc).__name__}: {exc})", flush=True)
        return None
    return total


def _phases(tasks: list[dict]) -> str:
    """Where the wall time went, from the task instances' start and end times."""
    def at(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    out = []
    for task_id in dict.fromkeys(t["task_id"] for t in tasks):
        rows = [t for t in tasks if t["task_id"] == task_id and at(t.get("start_date")) and at(t.get("end_date"))]
        if not rows:
            continue
        first, last = min(at(t["start_date"]) for t in rows), max(at(t["end_date"]) for t in rows)
        busy = sum((at(t["end_date"]) - at(t["start_date"])).total_seconds() for t in rows)
        out.append(f"{task_id}: {len(rows)} task(s), {busy:.0f}s in tasks, span {(last - first).total_seconds():.0f}s")
    return "; ".join(out)
