"""URLs from an Airflow task to what it produced in MLflow (used by the plugin's extra links)."""

from __future__ import annotations

import os


def mlflow_ui_url() -> str:
    return os.environ.get("RETRAIN_MLFLOW_UI_URL", "http://localhost:5000").rstrip("/")


def mlflow_run_url(trained: dict | None) -> str:
    if not trained or not trained.get("run_id") or not trained.get("experiment_id"):
        return ""
    return f"{mlflow_ui_url()}/#/experiments/{trained['experiment_id']}/runs/{trained['run_id']}"


def model_version_url(model_name: str, outcome: dict | None) -> str:
    if not outcome or not outcome.get("version"):
        return ""
    return f"{mlflow_ui_url()}/#/models/{model_name}/versions/{outcome['version']}"
