"""Empty MLflow SQLite stores without paying for MLflow's migrations each time.

A fresh ``sqlite:///…/mlflow.db`` runs MLflow's alembic migrations on first use: 2-4 s of CPU here, 10 s
at load 9, in every test and every child process that opens a new store. ``migrated_mlflow(db)`` migrates
once per test run (shared by the xdist workers) into a template and copies it to ``db`` (0.08 s); MLflow then finds
its schema at head and migrates nothing. Same MLflow, same migrations: the copy is what the first
connection would have produced (its Default experiment, id 0, which nothing here uses, points into the
template's folder).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.templates import template


def _migrate(folder: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts")).engine.dispose()


def migrated_mlflow(db: Path) -> str:
    """Put a migrated, empty MLflow store at ``db`` (unless one is there); its tracking URI."""
    db = Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    if not db.exists():
        shutil.copyfile(template("mlflow-sqlite", _migrate) / "mlflow.db", db)  # built once per run
    return f"sqlite:///{db}"


def isolated_product_state(tmp_path: Path, monkeypatch) -> None:
    """A test's own data root, local state, suite folder and migrated MLflow store, all under ``tmp_path``:
    a user's table, spec and suite anywhere on disk, as the README's "Add a model" describes."""
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("RETRAIN_EXTRA_SUITE_ROOTS", str(tmp_path / "suites"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(tmp_path / "state" / "mlflow.db"))
