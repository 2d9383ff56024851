"""Many model specs, one DAG each, on a real Airflow (scheduler, dag-processor, api-server, triggerer,
LocalExecutor: ``retrain_demo.local_airflow.LocalAirflow``): every DAG triggered at once, timed to the last run's end.

Opt-in, as it takes minutes: ``python -m bench specs_scheduler``. Sized for a 2-core machine:
``BENCH_SCHED_SPECS`` copies of the demo spec (default 20), each with its own name, 1 epoch on
``BENCH_SCHED_ROWS`` rows a day (default 2,000, 3 days), ``BENCH_PARALLELISM`` executor slots (default 2).
Airflow's own start-up and the first parse are not counted. Reported: runs per hour, and the orchestration
share: the part of the executor slots' busy time spent outside ``train`` (task processes, imports, the
other ten tasks), and of each run's wall time the part outside ``train`` (waiting for a slot included).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]


def run(tmp: Path) -> list[Result]:
    from retrain_demo.data import generate_demo_data
    from retrain_demo.local_airflow import LocalAirflow

    from bench.segments_scheduler import _duration, _phases, airflow_env

    count = int(os.environ.get("BENCH_SCHED_SPECS", "20"))
    parallelism = int(os.environ.get("BENCH_PARALLELISM", "2"))
    root = tmp / "specs-scheduler"
    generate_demo_data(root / "data", datetime.now(UTC).date() - timedelta(days=1), days=3,
                       rows_per_day=int(os.environ.get("BENCH_SCHED_ROWS", "2000")))
    spec = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())
    spec["schedule"] = {"cron": None}
    spec["training"].update(epochs=1, batch_size=256, device="cpu")
    spec["data"]["freshness"] = {"max_age_hours": 72, "min_rows": 100}
    spec["validation"]["suite"] = str(ROOT / "include" / spec["validation"]["suite"])
    (root / "specs").mkdir(parents=True, exist_ok=True)
    names = [f"sched_{i:03d}" for i in range(count)]
    for name in names:
        (root / "specs" / f"{name}.yaml").write_text(yaml.safe_dump(dict(spec, name=name)))
    env = airflow_env(root)
    dag_ids = [f"retrain_{name}" for name in names]
    from mlflow import MlflowClient

    # Create the MLflow store now: tasks creating it at once race on its migrations (a failed try, 60 s retry).
    MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"]).search_experiments()
    with LocalAirflow(root, env=env, parallelism=parallelism) as airflow:
        for dag_id in dag_ids:
            airflow.wait_for_dag(dag_id, timeout=600)
        started = time.perf_counter()
        runs = {dag_id: airflow.api.trigger(dag_id)["dag_run_id"] for dag_id in dag_ids}

        def all_ended():
            states = {d: next((r["state"] for r in airflow.api.dag_runs(d) if r["dag_run_id"] == runs[d]), None)
                      for d in dag_ids}
            return states if all(s in ("success", "failed") for s in states.values()) else None

        states = airflow.wait_for(all_ended, timeout=7200, what="every run to end", interval=5)
        seconds = time.perf_counter() - started
        tasks = [t for d in dag_ids for t in airflow.api.task_instances(d, runs[d]).values()]
        run_rows = [r for d in dag_ids for r in airflow.api.dag_runs(d) if r["dag_run_id"] == runs[d]]
    ok = sum(s == "success" for s in states.values())
    busy = sum(_duration(t) for t in tasks)
    in_train = sum(_duration(t) for t in tasks if t["task_id"] == "train")
    walls = [_duration(r) for r in run_rows]
    per_task = Counter()
    for t in tasks:
        per_task[t["task_id"]] += _duration(t)
    mean = {task_id: total / count for task_id, total in per_task.most_common()}
    print(f"  {count} runs ({ok} success) in {seconds:.0f}s on {parallelism} slots; run states {Counter(states.values())}",
          flush=True)
    print(f"  slot time {busy:.0f}s, in train {in_train:.0f}s; mean run wall {sum(walls) / len(walls):.0f}s; "
          f"mean seconds a run by task: " + ", ".join(f"{k} {v:.1f}" for k, v in mean.items()), flush=True)
    print(f"  phases: {_phases(tasks)}", flush=True)
    outside = 1 - in_train / busy if busy else 0.0
    outside_wall = 1 - in_train / sum(walls) if walls else 0.0
    only_train = count / (in_train / parallelism) * 3600 if in_train else 0.0  # the slots doing nothing but train
    return [Result(f"spec DAGs, scheduler+LocalExecutor ({ok} of {count} runs)", ok / seconds * 3600, only_train,
                   "runs/h", None,
                   note=f"{count} DAGs triggered at once, all ended in {seconds:.0f}s on {parallelism} slots; "
                        f"orchestration share {outside:.0%} of slot time ({busy - in_train:.0f}s of {busy:.0f}s outside "
                        f"train), {outside_wall:.0%} of run wall time; baseline: the slots running only train; "
                        "1 epoch on tiny data, so train is small on purpose")]
