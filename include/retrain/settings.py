"""Every environment variable the package reads, read here at call time (never at import time).

Every setting has an embedded default under the project folder, so a fresh clone works without any
configuration; production sets the environment variables (see .env.example). No other module reads the
environment (tests/test_layers.py checks).
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
    segment_parallelism: int = 2  # chunk processes at once; 2 = the development machine's cores
    segment_pool: str = "default_pool"
    checkpoint_dir: Path | None = None  # default: <local_state>/checkpoints
    sensor_poll_seconds: float = 60.0
    slack_outbox: Path | None = None  # default: <local_state>/slack-outbox/outbox.jsonl
    mlflow_ui_url: str = "http://localhost:5000"
    reports_base_url: str = ""  # a web server over <local_state>/reports, for Data Docs links
    airflow_home: Path | None = None
    worker_hostname: str = ""
    airflow_run_id: str = ""  # AIRFLOW_CTX_DAG_RUN_ID: set by Airflow inside a running task
    airflow_username: str = "admin"
    airflow_password: str | None = field(default=None, repr=False)
    airflow_token: str | None = field(default=None, repr=False)
    notifiers: tuple[str, ...] = ("slack",)  # keys of retrain.alerts.notifiers.NOTIFIERS; for specs without alerts.notifiers
    promotion_lock_timeout_s: float = 60.0  # how long promote waits for another holder's lock, then fails
    # Execution timeouts: a task stuck on a stalled mount or a silent peer fails (and alerts) instead of holding
    # its slot forever. Training tasks (train, tune, segment chunks) get the longer one (docs/reliability.md).
    task_timeout: timedelta = timedelta(hours=2)
    train_timeout: timedelta = timedelta(hours=12)
    # Folders outside data_root / the suites folder that specs may name (RETRAIN_EXTRA_DATA_ROOTS,
    # RETRAIN_EXTRA_SUITE_ROOTS, os.pathsep-separated). Empty by default: specs stay inside their roots.
    extra_data_roots: tuple[Path, ...] = ()
    extra_suite_roots: tuple[Path, ...] = ()
    # Rows a worker reads for one run's window (the files' metadata, checked before anything decodes): a few
    # kilobytes of parquet can hold a hundred million rows (RETRAIN_MAX_WINDOW_ROWS; docs/security.md D7).
    max_window_rows: int = 50_000_000
    prices: PriceTable = field(default_factory=PriceTable)  # RETRAIN_PRICES, see retrain.training.usage
    spec_cache: Path | None = None  # validated specs by content (retrain.spec_cache); RETRAIN_SPEC_CACHE=off: none
    parse_shards: int = 1  # DAG files the model specs are split over (retrain.orchestration.parsing)

    @property
    def suites_root(self) -> Path:
        return self.project_root / "include" / "expectations"

    def resolve_data_path(self, location: str) -> Path:
        """The dataset folder for a spec's data.location; refuses one outside the data roots (symlinks followed)."""
        path = Path(location)
        path = path if path.is_absolute() else self.data_root / path
        return _confined(path, (self.data_root, *self.extra_data_roots), "data.location", location)

    def resolve_include_path(self, relative: str) -> Path:
        """An expectation suite file; refuses one outside include/expectations and RETRAIN_EXTRA_SUITE_ROOTS."""
        path = Path(relative)
        path = path if path.is_absolute() else self.project_root / "include" / path
        return _confined(path, (self.suites_root, *self.extra_suite_roots), "validation.suite", relative)


def _confined(path: Path, roots: tuple[Path, ...], field: str, given: str) -> Path:
    from retrain.errors import PathNotAllowedError

    real = path.resolve()
    if any(real.is_relative_to(root.resolve()) for root in roots):
        return path
    allowed = ", ".join(str(root) for root in roots)
    raise PathNotAllowedError(
        f"{field} {given!r} resolves to {real}, outside the allowed folders ({allowed}); "
        "an operator can allow more with RETRAIN_EXTRA_DATA_ROOTS / RETRAIN_EXTRA_SUITE_ROOTS"
    )


def _paths(value: str | None) -> tuple[Path, ...]:
    return tuple(Path(part) for part in (value or "").split(os.pathsep) if part.strip())


def quiet_artifact_downloads() -> None:
    """No tqdm bar per MLflow artifact download (every verified model load is one) in a terminal or a task log,
    unless the operator set ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


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
        max_window_rows=int(os.environ.get("RETRAIN_MAX_WINDOW_ROWS", "50000000")),
        segment_parallelism=int(os.environ.get("RETRAIN_SEGMENT_PARALLELISM", "2")),
        segment_pool=os.environ.get("RETRAIN_SEGMENT_POOL", "default_pool"),
        checkpoint_dir=_path(os.environ.get("RETRAIN_CHECKPOINT_DIR")),
        sensor_poll_seconds=float(os.environ.get("RETRAIN_SENSOR_POLL_SECONDS", "60")),
        slack_outbox=_path(os.environ.get("RETRAIN_SLACK_OUTBOX")),
        mlflow_ui_url=os.environ.get("RETRAIN_MLFLOW_UI_URL", "http://localhost:5000").rstrip("/"),
        reports_base_url=os.environ.get("RETRAIN_REPORTS_BASE_URL", "").rstrip("/"),
        airflow_home=_path(os.environ.get("AIRFLOW_HOME")),
        worker_hostname=os.environ.get("RETRAIN_WORKER_HOSTNAME", ""),
        airflow_run_id=os.environ.get("AIRFLOW_CTX_DAG_RUN_ID", ""),
        airflow_username=os.environ.get("AIRFLOW_USERNAME", "admin"),
        airflow_password=os.environ.get("AIRFLOW_PASSWORD"),
        airflow_token=os.environ.get("AIRFLOW_TOKEN"),
        notifiers=tuple(n.strip() for n in os.environ.get("RETRAIN_NOTIFIERS", "slack").split(",") if n.strip()),
        promotion_lock_timeout_s=float(os.environ.get("RETRAIN_PROMOTION_LOCK_TIMEOUT_SECONDS", "60")),
        task_timeout=timedelta(minutes=float(os.environ.get("RETRAIN_TASK_TIMEOUT_MINUTES", "120"))),
        train_timeout=timedelta(minutes=float(os.environ.get("RETRAIN_TRAIN_TIMEOUT_MINUTES", "720"))),
        extra_data_roots=_paths(os.environ.get("RETRAIN_EXTRA_DATA_ROOTS")),
        extra_suite_roots=_paths(os.environ.get("RETRAIN_EXTRA_SUITE_ROOTS")),
        prices=PriceTable.parse(os.environ.get("RETRAIN_PRICES")),
        spec_cache=_spec_cache(os.environ.get("RETRAIN_SPEC_CACHE"), local_state),
        parse_shards=max(1, int(os.environ.get("RETRAIN_PARSE_SHARDS", "1"))),
    )


def _spec_cache(value: str | None, local_state: Path) -> Path | None:
    if value and value.strip().lower() in ("off", "0", "false", "no"):
        return None
    return Path(value) if value else local_state / "spec-cache.sqlite"


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
