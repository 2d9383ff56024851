"""A running Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor with ONE worker slot)
with its own AIRFLOW_HOME, metadata database, MLflow store, data root, specs folder and Slack stand-in.

The metadata database is a fresh PostgreSQL database on this machine's server (127.0.0.1:5432, dropped
afterwards) when one is reachable, else SQLite in the stack's folder; either is a copy of a migrated one
(tests/support/airflow_db.py), so no stack pays for ``airflow db migrate``.

Most tests should not start their own: tests/support/shared_airflow.py gives every test module one shared
stack (see its docstring for how to declare the specs and DAG files a module needs).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from retrain_demo.local_airflow import LocalAirflow
from retrain_demo.postgres import PSQL, drop_database

from tests.support.airflow_db import migrated_postgres, migrated_sqlite
from tests.support.mlflow_db import migrated_mlflow
from tests.support.slack_standin import SlackStandIn, slack_connection_json

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"success", "failed"}


def small_esmm_spec(name: str = "ecommerce_esmm", **overrides) -> dict:
    """The demo ESMM spec, smaller: 2 epochs; ``overrides`` replace top-level sections or data fields."""
    spec = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())
    spec["name"] = name
    spec["training"]["epochs"] = 2
    spec["data"]["freshness"] = {"max_age_hours": 48, "min_rows": 1000, "wait_minutes": 10}
    for key, value in overrides.items():
        if key in ("location", "freshness"):
            spec["data"][key] = value
        else:
            spec[key] = value
    return spec


def _postgres_up() -> bool:
    if PSQL is None:
        return False
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


class ArrivalStack:
    def __init__(self, root: Path, airflow: LocalAirflow, slack: SlackStandIn) -> None:
        self.root, self.airflow, self.slack = root, airflow, slack
        self.api = airflow.api
        self.data_root = root / "data"
        self.tracking_uri = airflow.env["MLFLOW_TRACKING_URI"]

    # -- runs and tasks ---------------------------------------------------------------------------------

    def runs(self, dag_id: str) -> list[dict]:
        return self.api.dag_runs(dag_id)

    def wait_for_new_run(self, dag_id: str, known: set[str], timeout: float = 180) -> dict:
        def new_run():
            self.airflow.check_alive()
            fresh = [r for r in self.runs(dag_id) if r["dag_run_id"] not in known]
            return fresh[0] if fresh else None

        return self.airflow.wait_for(new_run, timeout=timeout, what=f"a new run of {dag_id}")

    def wait_for_run_end(self, dag_id: str, run_id: str, timeout: float = 420) -> dict:
        def ended():
            self.airflow.check_alive()
            run = next(r for r in self.runs(dag_id) if r["dag_run_id"] == run_id)
            return run if run["state"] in TERMINAL else None

        return self.airflow.wait_for(ended, timeout=timeout, what=f"{dag_id} run {run_id} to finish")

    def states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {t: ti["state"] for t, ti in self.api.task_instances(dag_id, run_id).items()}

    def wait_for_task_state(self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 180) -> dict:
        def reached():
            self.airflow.check_alive()
            ti = self.api.task_instances(dag_id, run_id).get(task_id) or {}
            if ti.get("state") == state:
                return ti
            if ti.get("state") in ("failed", "upstream_failed") and state not in ("failed", "upstream_failed"):
                log = self.api.task_log(dag_id, run_id, task_id, max(1, ti.get("try_number") or 1))
                raise AssertionError(f"{dag_id}.{task_id} failed while waiting for {state}:\n{log[-3000:]}")
            return None

        return self.airflow.wait_for(reached, timeout=timeout, what=f"{dag_id}.{task_id} to be {state}")

    def wait_for_approval_request(self, dag_id: str, run_id: str, task_id: str = "approve_promotion",
                                  timeout: float = 900) -> dict:
        """The task awaits input and the scheduler has taken note that its first process ended. Answering
        before that (seconds, under load) meets an Airflow race: the resumed task runs while the scheduler still
        holds the deferring process's "success" event, reads it as "killed externally" and retries the task,
        which asks again. A person never answers that fast; a test must not either."""
        ti = self.wait_for_task_state(dag_id, run_id, task_id, "awaiting_input", timeout=timeout)
        finished = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id},"
        scheduler_log = self.airflow.logs / "scheduler.log"
        self.airflow.wait_for(lambda: finished in scheduler_log.read_text(errors="replace"), timeout=300,
                              what=f"the scheduler to note that {dag_id}.{task_id} is waiting")
        return ti

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        return self.api.task_log(dag_id, run_id, task_id, try_number)

    # -- MLflow -----------------------------------------------------------------------------------------

    def mlflow_runs(self, experiment: str) -> list:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id]) if found else []
        # training runs only: stale data and broken contracts leave an "avoided" cost record (docs/costs.md)
        return [r for r in runs if r.data.tags.get("retrain.run_kind", "train") == "train"]


@contextmanager
def arrival_stack(
    root: Path,
    specs: list[dict],
    *,
    paused_at_creation: bool = False,
    dag_files: list[Path] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ArrivalStack]:
    """A stack whose specs folder holds ``specs``. With ``dag_files`` its DAGs folder is its own: links to
    the product's DAG files plus those files (test-only DAGs); ``env`` is added to every component's."""
    specs_dir = root / "specs"
    specs_dir.mkdir(parents=True)
    for spec in specs:
        (specs_dir / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    dags_folder = ROOT / "dags"
    if dag_files:
        dags_folder = root / "dags"
        dags_folder.mkdir()
        for path in [*sorted((ROOT / "dags").glob("*.py")), *dag_files]:
            (dags_folder / path.name).symlink_to(path)
    database = f"retrain_arrival_{uuid.uuid4().hex[:8]}" if _postgres_up() else None
    try:
        url = migrated_postgres(database) if database else None
        if url is None:
            migrated_sqlite(root / "airflow")
        else:  # an empty airflow.cfg, as migrated_sqlite leaves: components that start together and find none
            # each write a default one with their own Fernet key (seen: the triggerer failed to decrypt a trigger)
            (root / "airflow").mkdir(parents=True, exist_ok=True)
            (root / "airflow" / "airflow.cfg").touch()
        with SlackStandIn() as slack:
            stack_env = {
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(paused_at_creation),
                "RETRAIN_SPECS_DIR": str(specs_dir),
                "RETRAIN_DATA_ROOT": str(root / "data"),
                "RETRAIN_LOCAL_STATE": str(root / "state"),
                "RETRAIN_SLACK_OUTBOX": str(root / "state" / "slack-outbox.jsonl"),
                "MLFLOW_TRACKING_URI": migrated_mlflow(root / "state" / "mlflow.db"),
                "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection_json(slack.base_url),
                "RETRAIN_RETRY_DELAY_SECONDS": "1",
                "RETRAIN_SENSOR_POLL_SECONDS": "2",
                # DAG files and specs do not change while a stack runs: parsed at start, not again every 30 s
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
                **(env or {}),
            }
            with LocalAirflow(root, env=stack_env, database_url=url, parallelism=1, migrated=True) as airflow:
                yield ArrivalStack(root, airflow, slack)
    finally:
        if database:
            drop_database(database)


def today_utc() -> date:
    return datetime.now(UTC).date()
