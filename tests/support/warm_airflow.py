"""``airflow`` CLI commands (``dags test`` above all) in processes forked from one that imported torch, MLflow and
GX once, the way Airflow's own LocalExecutor forks tasks from a preloading server.

A fresh ``airflow dags test`` of the demo DAG spent about half of its 29-31 s of CPU importing those libraries
and mapping the installed packages (docs/benchmarks.md, "Developer loop, seventh round"); forked, it takes
13-15 s. The command itself is Airflow's own, unchanged, in the caller's environment; it imports Airflow after
that environment is set. The product's own path to a fresh ``airflow dags test`` (``retrain run``) keeps being
tested in fresh processes (tests/integration/test_run_once.py). ``RETRAIN_TESTS_FRESH_AIRFLOW=1`` runs every
command in a fresh process instead.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

AIRFLOW = str(Path(sys.executable).parent / "airflow")
_SERVER = Path(__file__).with_name("warm_airflow_server.py")
_lock = threading.Lock()
_server: subprocess.Popen | None = None


def _started() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, str(_SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, env=os.environ.copy())
        atexit.register(_server.stdin.close)
    return _server


def airflow(*args: str, env: Mapping[str, str], timeout: float = 600,
            cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=timeout)``."""
    argv = [AIRFLOW, *args]
    if os.environ.get("RETRAIN_TESTS_FRESH_AIRFLOW") == "1":
        return subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="warm-airflow-") as tmp, _lock:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        server = _started()
        server.stdin.write(json.dumps({"argv": argv, "env": dict(env), "cwd": str(cwd or os.getcwd()),
                                       "stdout": str(out), "stderr": str(err), "timeout": timeout}) + "\n")
        server.stdin.flush()
        answer = server.stdout.readline()
        if not answer:
            raise RuntimeError(f"the warm Airflow server ended (exit code {server.wait()})")
        outcome = json.loads(answer)
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    if outcome["timed_out"]:
        raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(argv, outcome["returncode"], stdout, stderr)
