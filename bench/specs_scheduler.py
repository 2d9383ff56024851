"""Many model specs, one DAG each, on a real Airflow (scheduler, dag-processor, api-server, triggerer,
LocalExecutor: ``retrain_demo.local_airflow.LocalAirflow``): every DAG triggered at once, timed to the last run's end.

Opt-in, as it takes minutes: ``python -m bench specs_scheduler``. Sized for a 2-core machine:
``BENCH_SCHED_SPECS`` copies of the demo spec (default 20), each with its own name, 1 epoch on
``BENCH_SCHED_ROWS`` rows a day (default 2,000, 3 days), ``BENCH_PARALLELISM`` executor slots (default 2).
``BENCH_SCHED_WINDOW`` seconds (default 0: until every run has ended) stops the count early, for many DAGs on
few cores: ``BENCH_SCHED_SPECS=1000 BENCH_SCHED_WINDOW=600`` triggers 1,000 runs and counts those that ended
within 10 minutes; ``BENCH_SCHED_PARSE_INTERVAL`` (default 30, Airflow's) is the dag-processor's
``min_file_process_interval``; ``BENCH_SCHED_IDLE_SLEEP`` (default 1, Airflow's) the scheduler's
``scheduler_idle_sleep_time``, how long a loop that queued nothing sleeps. ``BENCH_SCHED_PLAIN=0`` skips the stack without the preload. ``BENCH_SCHED_DB=postgres``
puts Airflow's metadata in a new database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards) instead
of SQLite, which answers "database is locked" when hundreds of runs are triggered while the scheduler writes.
Airflow's own start-up and the first parse are not counted in the run times (the stack's CPU counts all).
Run twice, once with the heavy libraries preloaded per worker (the default) and once imported per task.
Reported: runs per hour, and the orchestration share: the part of the executor slots' busy time spent outside ``train`` (task processes, imports, the
other ten tasks), and of each run's wall time the part outside ``train`` (waiting for a slot included).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]


def run(tmp: Path) -> list[Result]:
    """The same DAGs on two stacks, one after the other: workers that import the heavy libraries once before
    they fork tasks (retrain.orchestration.task_preload, the default) against each task importing them."""
    count = int(os.environ.get("BENCH_SCHED_SPECS", "20"))
    parallelism = int(os.environ.get("BENCH_PARALLELISM", "2"))
    ours = _one_stack(tmp / "specs-scheduler-preload", count, parallelism, preload=True)
    if os.environ.get("BENCH_SCHED_PLAIN", "1") == "0":
        return [Result(f"spec DAGs, scheduler+LocalExecutor ({ours['ok']} of {count} runs)", ours["runs_per_hour"],
                       ours["only_train"], "runs/h", None, note=ours["note"])]
    base = _one_stack(tmp / "specs-scheduler-plain", count, parallelism, preload=False)
    results = []
    for label, stats in (("heavy imports per task", base), ("preloaded per worker", ours)):
        results.append(Result(f"spec DAGs, scheduler+LocalExecutor, {label} ({stats['ok']} of {count} runs)",
                              stats["runs_per_hour"], stats["only_train"], "runs/h", None, note=stats["note"]))
    results.append(Result("spec DAGs: runs/h, heavy libraries preloaded per worker vs imported per task",
                          ours["runs_per_hour"], base["runs_per_hour"], "runs/h", None,
                          note=f"stack CPU {ours['cpu']:.0f}s vs {base['cpu']:.0f}s ({base['cpu'] / max(ours['cpu'], 1e-9):.2f}x less); "
                               f"slot time outside train {ours['outside']:.0f}s vs {base['outside']:.0f}s"))
    return results


def _one_stack(root: Path, count: int, parallelism: int, *, preload: bool) -> dict:
    from mlflow import MlflowClient
    from retrain_demo.data import generate_demo_data
    from retrain_demo.local_airflow import LocalAirflow

    from bench.segments_scheduler import _duration, _phases, airflow_env

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
    env = {**airflow_env(root),
           # one DAG file with every spec: room for its parse (about 16 ms of CPU a spec) on a busy machine
           "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600", "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "900",
           # how often the unchanged DAG file is parsed again (Airflow's default 30 s; docs/deployment.md for fleets)
           "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": os.environ.get("BENCH_SCHED_PARSE_INTERVAL", "30"),
           # a loop that queued nothing sleeps this long; with many live runs most loops queue nothing
           "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": os.environ.get("BENCH_SCHED_IDLE_SLEEP", "1")}
    dag_ids = [f"retrain_{name}" for name in names]
    window = float(os.environ.get("BENCH_SCHED_WINDOW", "0"))  # seconds; 0: until every run has ended
    # Create the MLflow store now: tasks creating it at once race on its migrations (a failed try, 60 s retry).
    MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"]).search_experiments()
    with _metadata_database() as database_url, LocalAirflow(root, env=env, parallelism=parallelism, preload=preload,
                                                            database_url=database_url) as airflow:
        airflow.wait_for(lambda: len(_listed(airflow.api, "dags", "dags", "dag_id")) >= count or None,
                         timeout=1800, what=f"{count} DAGs to be parsed", interval=5)
        started = time.perf_counter()
        runs = {dag_id: airflow.api.trigger(dag_id)["dag_run_id"] for dag_id in dag_ids}
        triggered = time.perf_counter() - started
        ours = set(runs.items())

        def run_rows() -> list[dict]:
            return [r for r in _listed(airflow.api, "dags/~/dagRuns", "dag_runs", "dag_run_id")
                    if (r["dag_id"], r["dag_run_id"]) in ours]

        def all_ended():
            rows = run_rows()
            ended = all(r["state"] in ("success", "failed") for r in rows) and len(rows) == count
            return rows if ended or (window and time.perf_counter() - started >= window) else None

        rows = airflow.wait_for(all_ended, timeout=7200, what="every run to end",
                                interval=5 if count < 50 else 60)  # each poll pages through every run
        seconds = time.perf_counter() - started
        cpu = airflow.cpu_seconds()
        ended_runs = {(r["dag_id"], r["dag_run_id"]) for r in rows if r["state"] in ("success", "failed")}
        every_task = [t for t in _listed(airflow.api, "dags/~/dagRuns/~/taskInstances", "task_instances", "id")
                      if (t["dag_id"], t["dag_run_id"]) in ours]
        tasks = [t for t in every_task if (t["dag_id"], t["dag_run_id"]) in ended_runs]
        done = Counter(t["task_id"] for t in every_task if t["state"] in ("success", "failed", "skipped"))
    states = {(r["dag_id"], r["dag_run_id"]): r["state"] for r in rows}
    ended_rows = [r for r in rows if (r["dag_id"], r["dag_run_id"]) in ended_runs]
    label = "preloaded" if preload else "plain"
    print(f"  [{label}] {count} DAG runs triggered in {triggered:.0f}s; "
          f"{len(ended_runs)} ended within {seconds:.0f}s; {sum(done.values())} tasks ended "
          f"({sum(done.values()) / seconds * 3600:,.0f} an hour): {dict(done.most_common())}", flush=True)
    ok = sum(s == "success" for s in states.values())
    busy = sum(_duration(t) for t in tasks)
    in_train = sum(_duration(t) for t in tasks if t["task_id"] == "train")
    walls = [_duration(r) for r in ended_rows] or [0.0]
    per_task = Counter()
    for t in tasks:
        per_task[t["task_id"]] += _duration(t)
    mean = {task_id: total / max(len(ended_rows), 1) for task_id, total in per_task.most_common()}
    print(f"  [{label}] {count} runs ({ok} success) in {seconds:.0f}s on {parallelism} slots; run states "
          f"{Counter(states.values())}; CPU of the stack (start to the last run's end) {cpu:.0f}s", flush=True)
    print(f"  [{label}] slot time {busy:.0f}s, in train {in_train:.0f}s; mean run wall {sum(walls) / len(walls):.0f}s; "
          f"mean seconds a run by task: " + ", ".join(f"{k} {v:.1f}" for k, v in mean.items()), flush=True)
    print(f"  [{label}] phases: {_phases(tasks)}", flush=True)
    print(f"  [{label}] runs ended by minute since the trigger: {_ended_by_minute(ended_rows, seconds)}", flush=True)
    outside = 1 - in_train / busy if busy else 0.0
    outside_wall = 1 - in_train / sum(walls) if sum(walls) else 0.0
    only_train = len(ended_rows) / (in_train / parallelism) * 3600 if in_train else 0.0  # slots running only train
    return {"ok": ok, "runs_per_hour": ok / seconds * 3600, "only_train": only_train, "cpu": cpu,
            "outside": busy - in_train,
            "note": f"{count} DAGs triggered at once, {ok} succeeded within {seconds:.0f}s on {parallelism} slots; "
                    f"orchestration share {outside:.0%} of slot time ({busy - in_train:.0f}s of {busy:.0f}s outside "
                    f"train), {outside_wall:.0%} of run wall time; baseline: the slots running only train; "
                    "1 epoch on tiny data, so train is small on purpose"}


def _ended_by_minute(rows: list[dict], seconds: float, bucket_min: int = 5) -> str:
    """How many runs ended in each ``bucket_min`` minutes after the first run was queued: the rate once the
    fleet is under way, which the count within a window hides when no run ends early."""
    if not rows:
        return "none"
    start = min(datetime.fromisoformat(r["queued_at"] or r["start_date"]) for r in rows)
    buckets = Counter(int((datetime.fromisoformat(r["end_date"]) - start).total_seconds() // (bucket_min * 60))
                      for r in rows)
    return ", ".join(f"{b * bucket_min}-{(b + 1) * bucket_min} min: {buckets[b]}"
                     for b in range(int(seconds // (bucket_min * 60)) + 1))


def _listed(api, path: str, key: str, unique: str) -> list[dict]:
    """Every row of a paged list endpoint of Airflow's REST API (``~`` for every DAG or run)."""
    rows: dict = {}
    while True:
        page = api.call("GET", path, limit=100, offset=len(rows))[key]
        rows.update((row[unique], row) for row in page)
        if len(page) < 100:
            return list(rows.values())


@contextlib.contextmanager
def _metadata_database():
    """None (SQLite in the stack's folder), or the URL of a new PostgreSQL database with BENCH_SCHED_DB=postgres."""
    if os.environ.get("BENCH_SCHED_DB", "sqlite") != "postgres":
        yield None
        return
    import uuid

    from retrain_demo.postgres import database_url, drop_database, psql

    name = f"bench_specs_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        drop_database(name)
