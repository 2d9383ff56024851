"""Migrated Airflow metadata databases without paying for ``airflow db migrate`` each time.

A migration costs 10-20 s here (7 s of it is the ``airflow`` CLI starting). The SQLite one runs once per
test run (shared by the xdist workers, tests/support/templates.py), the PostgreSQL one too, into a template
database; every stack then gets a copy:

* ``migrated_sqlite(home)``: copies the template ``airflow.db`` into ``home`` (and an empty ``airflow.cfg``,
  so the components that start together do not race to write the default one). Pass ``migrated=True`` to
  ``LocalAirflow`` or skip your own ``airflow db migrate``.
* ``migrated_postgres(name)``: ``CREATE DATABASE name TEMPLATE <migrated template>`` on the machine's
  PostgreSQL (127.0.0.1:5432); the template is dropped when the test run ends (``drop_postgres_template``).

Same Airflow, same migrations: the copy is what ``db migrate`` would have produced.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from retrain_demo.postgres import database_url, drop_database, psql

from tests.support.templates import run_folder, template

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _migrate(home: Path, database_url: str | None = None) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    if database_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
    done = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def migrated_sqlite(home: Path) -> Path:
    """Put a migrated ``airflow.db`` (the default SQLite location) into the Airflow home ``home``."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template("airflow-sqlite", _migrate) / "airflow.db", home / "airflow.db")  # built once per run
    (home / "airflow.cfg").touch()
    return home / "airflow.db"


def migrated_postgres(name: str) -> str:
    """Create database ``name`` on 127.0.0.1:5432 as a copy of a migrated one; its SQLAlchemy URL."""
    folder = template("airflow-postgres", _migrated_postgres_template)  # built once per test run
    with open(folder / "create.lock", "w") as lock:  # one copy at a time: a template must have no other users
        fcntl.flock(lock, fcntl.LOCK_EX)
        psql(f"CREATE DATABASE {name} TEMPLATE {(folder / 'database').read_text()}")
    return database_url(name)


def _migrated_postgres_template(folder: Path) -> None:
    database = f"retrain_airflow_template_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {database}")
    (folder / "database").write_text(database)  # named first: the run's end drops it if this process dies
    try:
        with tempfile.TemporaryDirectory(prefix="retrain-airflow-template-") as home:
            _migrate(Path(home), database_url(database))
    except BaseException:  # the next worker to ask builds a new template (and names it): drop this one now
        drop_database(database)
        raise


def drop_postgres_template() -> None:
    """Drop the run's template database (tests/conftest.py, once every worker is done)."""
    named = run_folder() / "airflow-postgres" / "database"
    if named.exists():
        drop_database(named.read_text())

