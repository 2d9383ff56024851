"""`make demo`: generate demo data, run the ESMM model's DAG once for real, print what happened.

It uses the embedded default (SQLite Airflow metadata, SQLite MLflow store under .local/) and the real
``airflow dags test`` command, which runs every task of the DAG in one process. Running it again retrains
on the same, deterministic data and gates the new candidate against the champion from the first run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEMO_SPEC = "ecommerce_esmm"


def _airflow(*args: str, log_file: Path | None = None) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    if log_file is None:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    with log_file.open("w") as handle:
        return subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, text=True, check=False)


def _dag_run_state(dag_id: str, run_id: str) -> str:
    result = _airflow("dags", "list-runs", dag_id, "-o", "json")
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    try:
        runs = json.loads(lines[-1])
    except (IndexError, ValueError):
        return "unknown"
    return next((r.get("state", "unknown") for r in runs if r.get("run_id") == run_id), "unknown")


def print_summary(model_name: str, dag_id: str, started_ms: int) -> tuple[bool, str | None]:
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    experiment = client.get_experiment_by_name(model_name)
    runs = []
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`airflow.dag_id` = '{dag_id}' and attributes.start_time >= {started_ms}",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
    if not runs:
        print("No MLflow run was logged by this DAG run.")
        return False, None
    run = runs[0]
    metrics, tags = run.data.metrics, run.data.tags
    airflow_run_id = tags.get("airflow.run_id")
    print(f"\nAirflow run:   {airflow_run_id}")
    print(f"MLflow run:    {run.info.run_id}")
    heads = sorted({key.split(".")[0] for key in metrics if "." in key and not key.startswith("champion.")})
    for head in heads:
        shown = {m: metrics.get(f"{head}.{m}") for m in ("roc_auc", "log_loss", "rmse", "r2")}
        candidate = ", ".join(f"{m}={v:.4f}" for m, v in shown.items() if v is not None)
        champion = {m: metrics.get(f"champion.{head}.{m}") for m in shown}
        against = ", ".join(f"{m}={v:.4f}" for m, v in champion.items() if v is not None)
        print(f"  head {head:<6} {candidate}" + (f"   (champion: {against})" if against else ""))
    print(f"Gate decision: {tags.get('retrain.gate_decision', 'none')}: {tags.get('retrain.gate_reasons', '')}")
    champion = mlflow_store.champion_version(client, model_name)
    print(f"Champion:      {model_name} version {champion.version if champion else 'none'}")
    return tags.get("retrain.gate_decision") in {"promote", "reject"}, airflow_run_id


def main(argv: list[str] | None = None) -> int:
    from retrain.data.demo import generate_demo_data
    from retrain.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEMO_SPEC)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    args = parser.parse_args(argv)

    settings = get_settings()
    now = datetime.now(UTC).replace(microsecond=0)
    folders = generate_demo_data(settings.data_root, now.date() - timedelta(days=1), args.days, args.rows_per_day)
    print(f"Demo data: {len(folders)} daily partitions under {folders[0].parent}")

    (settings.airflow_home or settings.project_root / ".airflow").mkdir(parents=True, exist_ok=True)
    migrated = _airflow("db", "migrate")
    if migrated.returncode != 0:
        print(migrated.stdout[-3000:], migrated.stderr[-3000:])
        return 1

    dag_id = f"retrain_{args.model}"
    log_file = settings.local_state / "demo-last-run.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"Running DAG {dag_id} with `airflow dags test` (log: {log_file}) ...")
    started_ms = int(datetime.now(UTC).timestamp() * 1000)
    result = _airflow("dags", "test", dag_id, now.isoformat(), log_file=log_file)
    ok, run_id = print_summary(args.model, dag_id, started_ms)
    state = _dag_run_state(dag_id, run_id) if run_id else "unknown"
    print(f"DAG run state: {state} (exit code {result.returncode})")
    if result.returncode != 0 or state != "success" or not ok:
        print(f"The demo run did not succeed; the last lines of {log_file}:")
        print("\n".join(log_file.read_text().splitlines()[-40:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
