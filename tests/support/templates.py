"""Templates built once per test run and shared by every pytest-xdist worker.

tests/conftest.py names one folder per run in ``RETRAIN_TEST_TEMPLATES`` before the workers start (they
inherit it) and removes it at the end. ``template(name, build)`` builds ``<folder>/<name>`` with ``build`` in
the first worker that asks (under a file lock); the others wait for it and then use it. Without the variable
(a helper used outside pytest) the folder is this process's own.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

VARIABLE = "RETRAIN_TEST_TEMPLATES"


def run_folder() -> Path:
    """The run's template folder; created (and removed at exit) by the first process that needs it."""
    if VARIABLE not in os.environ:
        folder = tempfile.mkdtemp(prefix="retrain-test-templates-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ[VARIABLE] = folder
    return Path(os.environ[VARIABLE])


def template(name: str, build: Callable[[Path], None]) -> Path:
    """``<run folder>/<name>``, built once per test run by ``build(folder)``."""
    folder = run_folder() / name
    done = folder / ".built"
    if not done.exists():
        with open(run_folder() / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                build(folder)
                done.touch()
    return folder
