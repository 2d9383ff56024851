"""`make demo-events`: a data event starts a retraining run on a real, running Airflow.

Starts Airflow's components (api-server, scheduler, dag-processor, triggerer; LocalExecutor on SQLite)
in a fresh folder under .local/demo-events/, then plays an upstream system landing a day partition:

1. it writes the partition's data; without the ``_SUCCESS`` marker the partition cannot be announced;
2. it writes the marker and posts the asset event through the REST API (``POST /api/v2/assets/events``);
3. the scheduler starts ``retrain_ecommerce_esmm`` for that partition; it trains, gates and promotes;
4. the same partition is announced again: the run is skipped, nothing is trained twice.

Everything it starts is stopped at the end (or on Ctrl-C). ``--keep-running`` leaves Airflow up to look
around in its UI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta

import yaml

DATASET = "ecommerce/impressions"
DAG_ID = "retrain_ecommerce_esmm"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _wait_for_run(airflow, dag_id: str, known: set[str], timeout: float) -> dict:
    run = airflow.wait_for(
        lambda: next((r for r in airflow.api.dag_runs(dag_id) if r["dag_run_id"] not in known), None),
        timeout=120, what=f"the scheduler to start {dag_id}")
    run_id, shown = run["dag_run_id"], {}
    _say(f"   run {run_id} ({run['run_type']}) started")
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        states = {t: ti["state"] for t, ti in airflow.api.task_instances(dag_id, run_id).items()}
        for task, state in states.items():
            if state and shown.get(task) != state and state not in ("scheduled", "queued"):
                _say(f"   {task:<16} {state}")
                shown[task] = state
        run = next(r for r in airflow.api.dag_runs(dag_id) if r["dag_run_id"] == run_id)
        if run["state"] in ("success", "failed"):
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id} run {run_id} did not finish in {timeout:g} s")
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    from retrain.assets import dataset_asset_uri
    from retrain.data.arrival import IncompletePartitionError
    from retrain.data.landing import mark_complete, write_partition
    from retrain.orchestration.announce import announce_partition
    from retrain.run_once import print_summary
    from retrain.settings import PROJECT_ROOT, get_settings

    from retrain_demo.data import generate_day, generate_demo_data
    from retrain_demo.local_airflow import LocalAirflow

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows-per-day", type=int, default=3_000)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a run")
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow running at the end")
    args = parser.parse_args(argv)

    root = get_settings().local_state / "demo-events"
    shutil.rmtree(root, ignore_errors=True)  # a fresh stack every time, so the story is the same every time
    specs, data = root / "specs", root / "data"
    specs.mkdir(parents=True)
    spec = yaml.safe_load((PROJECT_ROOT / "include/specs/ecommerce_esmm.yaml").read_text())
    spec["schedule"] = {"on_data_arrival": True}  # only data events start it here (no cron tick in the demo)
    (specs / "ecommerce_esmm.yaml").write_text(yaml.safe_dump(spec))
    day = datetime.now(UTC).date() - timedelta(days=1)
    generate_demo_data(data, day - timedelta(days=1), days=6, rows_per_day=args.rows_per_day)
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "RETRAIN_SPECS_DIR": str(specs),
        "RETRAIN_DATA_ROOT": str(data),
        "RETRAIN_LOCAL_STATE": str(root / "state"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'state' / 'mlflow.db'}",
        "RETRAIN_SENSOR_POLL_SECONDS": "5",
    }
    os.environ.update({k: env[k] for k in ("RETRAIN_DATA_ROOT", "RETRAIN_LOCAL_STATE", "MLFLOW_TRACKING_URI")})

    _say(f"Landing zone: {data / DATASET} (6 complete day partitions, up to {day - timedelta(days=1)})")
    _say(f"Starting Airflow (api-server, scheduler, dag-processor, triggerer) under {root} ...")
    airflow = LocalAirflow(root, env=env, parallelism=2)
    try:
        airflow.start()
        airflow.wait_for_dag(DAG_ID)
        _say(f"Airflow is up on {airflow.base_url} (user {airflow.username}, password {airflow.password})\n")

        _say(f"1. Upstream writes dt={day} ... but not its _SUCCESS marker yet")
        folder = write_partition(generate_day(day, args.rows_per_day), data / DATASET, day, complete=False)
        try:
            announce_partition(airflow.api, DATASET, day)
            _say("   announced?! (this should not happen)")
            return 1
        except IncompletePartitionError as exc:
            _say(f"   not announced: {exc}")
        _say(f"   runs of {DAG_ID}: {len(airflow.api.dag_runs(DAG_ID))}\n")

        _say(f"2. Upstream writes the marker and posts the asset event (POST /api/v2/assets/events on "
             f"{dataset_asset_uri(DATASET)})")
        mark_complete(folder, rows=args.rows_per_day, files=["part-00000.parquet"])
        event = announce_partition(airflow.api, DATASET, day)
        _say(f"   asset event {event['id']} with extra {event['extra']}\n")

        _say("3. The scheduler starts the model's DAG for that partition")
        started_ms = int(time.time() * 1000)
        first = _wait_for_run(airflow, DAG_ID, set(), args.timeout)
        _say(f"   -> {first['state']}")
        print_summary(spec["name"], DAG_ID, started_ms)
        _say()

        _say(f"4. The same partition dt={day} is announced again")
        known = {r["dag_run_id"] for r in airflow.api.dag_runs(DAG_ID)}
        announce_partition(airflow.api, DATASET, day)
        second = _wait_for_run(airflow, DAG_ID, known, args.timeout)
        log = airflow.api.task_log(DAG_ID, second["dag_run_id"], "check_freshness")
        reason = next((line for line in log.splitlines() if "nothing new to train on" in line), "")
        _say(f"   -> {second['state']}: {reason or 'trained again?!'}\n")

        ok = first["state"] == "success" and second["state"] == "success" and bool(reason)
        _say(f"Task logs: {airflow.home / 'logs'}")
        if args.keep_running:
            _say(f"Airflow keeps running on {airflow.base_url}; press Ctrl-C to stop it.")
            while True:
                time.sleep(3600)
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        _say("Stopping Airflow ...")
        airflow.stop()


if __name__ == "__main__":
    sys.exit(main())
