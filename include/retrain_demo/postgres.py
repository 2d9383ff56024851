"""The machine's PostgreSQL (127.0.0.1:5432, trust auth; `make services` starts it) for tests and benchmarks."""

from __future__ import annotations

import contextlib
import shutil
import subprocess

PSQL = shutil.which("psql")


def psql(sql: str, timeout: float = 120) -> None:
    """Run one statement as ``postgres`` in the ``postgres`` database; raises if it fails."""
    if PSQL is None:
        raise RuntimeError("psql is not installed: run `make services`")
    subprocess.run([PSQL, "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
                   check=True, capture_output=True, text=True, timeout=timeout)


def database_url(name: str, driver: str = "postgresql+psycopg2") -> str:
    return f"{driver}://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    """Drop database ``name`` even with clients still connected; a cleanup, so failures are ignored."""
    with contextlib.suppress(subprocess.SubprocessError, OSError, RuntimeError):
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
