"""Python scripts, ``airflow`` CLI commands above all (``dags test``), in processes forked from one that imported
torch, MLflow and GX once, the way Airflow's own LocalExecutor forks tasks from a preloading server.

A fresh ``airflow dags test`` of the demo DAG spent about half of its 29-31 s of CPU importing those libraries
and mapping the installed packages (docs/benchmarks.md, "Developer loop, seventh round"); forked, it takes
13-15 s. The script runs unchanged, as ``python <script>`` would run it, in the caller's environment; Airflow is
imported after that environment is set. ``retrain run`` as a user starts it from a terminal keeps being tested in fresh
processes (the interrupt tests of tests/integration/test_run_once.py, and ``make demo``).
``RETRAIN_TESTS_FRESH_PROCESSES=1`` runs every script in a fresh process instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from tests.support.templates import run_folder

AIRFLOW = str(Path(sys.executable).parent / "airflow")
_SERVER = Path(__file__).with_name("warm_process_server.py")


def _connected() -> socket.socket:
    """A connection to the run's server, started by the first worker that needs it (the others wait for it)."""
    path = run_folder() / "warm-process.sock"
    for _ in range(2):
        with open(run_folder() / "warm-process.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                with open(run_folder() / "warm-process.log", "ab") as log:
                    server = subprocess.Popen([sys.executable, str(_SERVER), str(path)], stdin=subprocess.DEVNULL,
                                              stdout=log, stderr=log, env=os.environ.copy(), start_new_session=True)
                deadline = time.monotonic() + 600
                while not path.exists() and server.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.1)
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(str(path))
            return connection
        except (FileNotFoundError, ConnectionRefusedError):
            connection.close()
            path.unlink(missing_ok=True)  # a server that died left its socket: start another
    log = (run_folder() / "warm-process.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the warm process server did not start; its log:\n{log}")


def airflow(*args: str, env: Mapping[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """``subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=timeout)``."""
    return run([AIRFLOW, *args], env=env, timeout=timeout)


def run(argv: list[str], env: Mapping[str, str], timeout: float = 600,
        cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)``
    for a Python script ``argv[0]`` (a console script such as ``airflow`` is one)."""
    argv = [str(arg) for arg in argv]
    if os.environ.get("RETRAIN_TESTS_FRESH_PROCESSES") == "1":
        return subprocess.run([sys.executable, *argv], env=dict(env), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="warm-process-") as tmp, _connected() as connection:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        connection.sendall((json.dumps({"argv": argv, "env": dict(env), "cwd": str(cwd or os.getcwd()),
                                        "stdout": str(out), "stderr": str(err), "timeout": timeout}) + "\n").encode())
        answer = connection.makefile().readline()
        if not answer:
            raise RuntimeError(f"the warm process server did not answer; see {run_folder() / 'warm-process.log'}")
        outcome = json.loads(answer)
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    if outcome["timed_out"]:
        raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(argv, outcome["returncode"], stdout, stderr)
