"""URLs from a run to what it produced: its MLflow run, model version and Data Docs (alerts and the plugin's links)."""

from __future__ import annotations

import re
from pathlib import Path

from retrain.settings import get_settings


def mlflow_ui_url() -> str:
    return get_settings().mlflow_ui_url


def mlflow_run_url(trained: dict | None) -> str:
    if not trained or not trained.get("run_id") or not trained.get("experiment_id"):
        return ""
    return f"{mlflow_ui_url()}/#/experiments/{trained['experiment_id']}/runs/{trained['run_id']}"


def model_version_url(model_name: str, outcome: dict | None) -> str:
    if not outcome or not outcome.get("version"):
        return ""
    return f"{mlflow_ui_url()}/#/models/{model_name}/versions/{outcome['version']}"


def report_folder(spec_name: str, airflow_run_id: str, partition: str) -> Path:
    """Where one validation's JSON results and Data Docs are kept: per spec, Airflow run and newest partition."""
    safe = re.sub(r"[^A-Za-z0-9._=+-]+", "_", airflow_run_id)
    return get_settings().local_state / "reports" / spec_name / safe / partition


def data_docs_url(paths: dict[str, str]) -> str | None:
    """The Data Docs page as people open it: under RETRAIN_REPORTS_BASE_URL (a web server over the reports
    folder) when set, else a file:// URL, which opens where the folder is reachable."""
    docs = paths.get("data_docs")
    if not docs:
        return None
    base = get_settings().reports_base_url
    reports = get_settings().local_state / "reports"
    if base and Path(docs).is_relative_to(reports):
        from urllib.parse import quote

        return f"{base}/{quote(Path(docs).relative_to(reports).as_posix())}"
    return Path(docs).as_uri()
