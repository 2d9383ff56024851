"""Where things live, read from the environment at call time (never at import time).

Every setting has an embedded default under the project folder, so a fresh clone works without any
configuration; production sets the environment variables (see .env.example).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from retrain.training.usage import PriceTable

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    project_root: Path
    specs_dir: Path
    data_root: Path
    local_state: Path
    mlflow_tracking_uri: str
    slack_conn_id: str
    retry_delay: timedelta
    max_retry_delay: timedelta
    airflow_base_url: str
    prices: PriceTable = field(default_factory=PriceTable)  # RETRAIN_PRICES, see retrain.training.usage

    def resolve_data_path(self, location: str) -> Path:
        path = Path(location)
        return path if path.is_absolute() else self.data_root / path

    def resolve_include_path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.project_root / "include" / path


def get_settings() -> Settings:
    root = Path(os.environ.get("RETRAIN_PROJECT_ROOT", PROJECT_ROOT))
    local_state = Path(os.environ.get("RETRAIN_LOCAL_STATE", root / ".local"))
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{local_state / 'mlflow' / 'mlflow.db'}"
    return Settings(
        project_root=root,
        specs_dir=Path(os.environ.get("RETRAIN_SPECS_DIR", root / "include" / "specs")),
        data_root=Path(os.environ.get("RETRAIN_DATA_ROOT", local_state / "data")),
        local_state=local_state,
        mlflow_tracking_uri=tracking_uri,
        slack_conn_id=os.environ.get("RETRAIN_SLACK_CONN_ID", "slack_default"),
        retry_delay=timedelta(seconds=float(os.environ.get("RETRAIN_RETRY_DELAY_SECONDS", "60"))),
        max_retry_delay=timedelta(seconds=float(os.environ.get("RETRAIN_MAX_RETRY_DELAY_SECONDS", "1800"))),
        airflow_base_url=os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080"),
        prices=PriceTable.parse(os.environ.get("RETRAIN_PRICES")),
    )
