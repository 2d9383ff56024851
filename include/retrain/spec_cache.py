"""Validated specs by file content, so an unchanged spec is not parsed and validated again on every parse.

The dag-processor re-parses the DAG files every ``min_file_process_interval`` (30 s): without a cache every
spec is read as YAML and validated each time. Entries are keyed by the sha256 of the file's bytes plus the
code that validates (``code_key``: the sources of the modules that define a spec, pydantic's and PyYAML's
versions), so an edit of either misses. Values are the spec as JSON, rebuilt by pydantic's JSON parser: a
write to the state folder can at worst yield a spec that fails validation, never run code (no pickle).
One SQLite file under the local state folder: safe for several dag-processor processes at once; any error
with it turns the cache off for the process and the spec is validated as before.
Only valid specs are stored; broken ones are validated each time, and the path checks run on every load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent
# What decides whether bytes are a valid spec: changing any of these files changes every key.
_VALIDATING_SOURCES = ("config.py", "errors.py", "spec_cache.py", "training/metrics.py")
_connections: dict[tuple[str, int], sqlite3.Connection | None] = {}


@cache
def code_key() -> str:
    import pydantic
    import yaml

    digest = hashlib.sha256(f"{pydantic.VERSION}|{yaml.__version__}|{yaml.__with_libyaml__}".encode())
    for name in _VALIDATING_SOURCES:
        digest.update((_PACKAGE / name).read_bytes())
    return digest.hexdigest()[:16]


def entry_key(content_sha256: str) -> str:
    return f"{content_sha256}:{code_key()}"


def _connect(path: Path) -> sqlite3.Connection | None:
    """One connection per process (never one inherited through fork), None when the cache cannot be used."""
    slot = (str(path), os.getpid())
    if slot not in _connections:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS specs (key TEXT PRIMARY KEY, dag_id TEXT NOT NULL, spec TEXT NOT NULL)")
            _connections[slot] = conn
        except (sqlite3.Error, OSError) as exc:
            log.warning("spec cache %s unusable, specs are validated on every parse: %s", path, exc)
            _connections[slot] = None
    return _connections[slot]


def _query(path: Path | None, sql: str, args: tuple = ()) -> list[tuple]:
    conn = _connect(path) if path else None
    if conn is None:
        return []
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        log.warning("spec cache %s failed, turned off for this process: %s", path, exc)
        _connections[(str(path), os.getpid())] = None
        return []


def get(path: Path | None, key: str) -> str | None:
    """The cached spec JSON for this key, None on a miss."""
    rows = _query(path, "SELECT spec FROM specs WHERE key = ?", (key,))
    return rows[0][0] if rows else None


def put(path: Path | None, key: str, dag_id: str, spec_json: str) -> None:
    _query(path, "INSERT OR IGNORE INTO specs (key, dag_id, spec) VALUES (?, ?, ?)", (key, dag_id, spec_json))


def claims(path: Path | None) -> dict[str, str]:
    """key -> the DAG id its spec claims, for every cached spec."""
    return dict(_query(path, "SELECT key, dag_id FROM specs"))
