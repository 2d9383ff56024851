"""Small, explicit access to the MLflow tracking store and model registry.

The embedded default is a SQLite store with artifacts in a local folder; production points
MLFLOW_TRACKING_URI at the MLflow server (which then decides where artifacts go).
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from retrain.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

log = logging.getLogger(__name__)

CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous-champion"
SEGMENTS_SUFFIX = "__segments"  # the experiment of a segment spec's models: <model>__segments


class RegistryClient(Protocol):
    """What the model registry code (``registry``, ``artifacts``, the two lookups below) asks of MLflow: a subset
    of ``MlflowClient``, which satisfies it as is. ``tests/support/memory_registry.py`` is the in-memory fake;
    ``mlflow.register_model`` and artifact downloads go to the tracking URI, not through it."""

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str | None = None) -> RegisteredModel: ...
    def get_registered_model(self, name: str) -> RegisteredModel: ...
    def delete_registered_model(self, name: str) -> None: ...
    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None: ...
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...
    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None) -> ModelVersion: ...
    def get_model_version(self, name: str, version: str) -> ModelVersion: ...
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...
    def set_model_version_tag(self, name: str, version: str | None = None, key: str | None = None,
                              value: Any = None) -> None: ...
    def search_model_versions(self, filter_string: str | None = None) -> list[ModelVersion]: ...


def segments_experiment(model: str) -> str:
    return f"{model}{SEGMENTS_SUFFIX}"


def connect(settings: Settings) -> MlflowClient:
    import mlflow

    from retrain.settings import quiet_artifact_downloads

    quiet_artifact_downloads()
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def log_batch(client: MlflowClient, run_id: str, metrics: dict[str, float] | None = None,
              params: dict[str, object] | None = None, tags: dict[str, str] | None = None,
              series: list[tuple[str, float, int]] = ()) -> None:
    """Metrics (at step 0; ``series``: ``(key, value, step)``), params and tags in one write: one store round
    trip instead of one per value."""
    import time

    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    values = [*((k, v, 0) for k, v in (metrics or {}).items()), *series]
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v, step in values],
                     params=[Param(k, str(v)) for k, v in (params or {}).items()],
                     tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()])


def experiment_id(client: MlflowClient, settings: Settings, name: str) -> str:
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if not settings.mlflow_tracking_uri.startswith(("http://", "https://", "databricks")):
        location = (settings.local_state / "mlflow" / "artifacts" / name).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created concurrently by another task
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def find_run_for_airflow_run(client: MlflowClient, exp_id: str, dag_id: str, airflow_run_id: str):
    """The MLflow run an earlier try of this Airflow run created, so a retry reuses it."""
    escaped = airflow_run_id.replace("'", "\\'")
    runs = client.search_runs(
        [exp_id],
        filter_string=f"tags.`airflow.dag_id` = '{dag_id}' and tags.`airflow.run_id` = '{escaped}'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None


def end_orphaned_runs(client: MlflowClient, exp_id: str, model: str, airflow_run_id: str) -> list[str]:
    """Mark KILLED the runs of ``model`` still RUNNING from other Airflow runs, and return their ids.

    A training process killed outright (SIGKILL, OOM killer, a lost worker) cannot end its MLflow run.
    A model's DAG has ``max_active_runs=1``, so when a new Airflow run trains, a RUNNING run of another
    Airflow run of the same model has no process behind it. A retry of the same Airflow run is not an
    orphan: it resumes that run from its checkpoint."""
    escaped = airflow_run_id.replace("'", "\\'")
    orphans = client.search_runs(
        [exp_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`retrain.model` = '{model}' "
                      f"and tags.`airflow.run_id` != '{escaped}'",
        max_results=100,
    )
    for orphan in orphans:
        client.set_tag(orphan.info.run_id, "retrain.orphaned",
                       f"its process died without ending it; marked KILLED by Airflow run {airflow_run_id}")
        client.set_terminated(orphan.info.run_id, "KILLED")
        log.warning("marked orphaned MLflow run %s (Airflow run %s) KILLED", orphan.info.run_id,
                    orphan.data.tags.get("airflow.run_id"))
    return [o.info.run_id for o in orphans]


def ended_runs(client: MlflowClient, exp_id: str, run_ids: list[str]) -> list[str]:
    """Those of ``run_ids`` that belong to experiment ``exp_id`` and are no longer RUNNING."""
    from mlflow.exceptions import MlflowException

    ended = []
    for run_id in run_ids:
        try:
            info = client.get_run(run_id).info
        except MlflowException:
            continue  # not in this store: another deployment's folder, left alone
        if info.experiment_id == exp_id and info.status != "RUNNING":
            ended.append(run_id)
    return ended


def champion_version(client: RegistryClient, model_name: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def version_for_run(client: RegistryClient, model_name: str, run_id: str) -> ModelVersion | None:
    versions = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    return versions[0] if versions else None


def git_commit(root: Path) -> tuple[str, bool]:
    """The code version: commit hash and whether the work tree had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root, capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
        )
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
