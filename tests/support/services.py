"""Real services as child processes for integration tests: a private PostgreSQL cluster, a private Redis
and an MLflow tracking server. Each runs in its own process group on a free local port; every start and
stop is bounded, and ``stop()`` (or leaving the ``with`` block) ends what was started.

The private PostgreSQL uses the Debian binaries (``/usr/lib/postgresql/<ver>/bin``) so that a test can
restart it without touching the machine's shared server (see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from retrain_demo.local_airflow import free_port

MLFLOW = str(Path(sys.executable).parent / "mlflow")


def _wait(check, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)


def _stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (trust auth, user ``postgres``) on a free port."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.port = free_port()
        # initdb refuses to run as root: then the cluster belongs to the postgres user, in a folder it can reach.
        self.as_root = os.geteuid() == 0
        self.data = Path(tempfile.mkdtemp(prefix="retrain-pg-"))
        if self.as_root:
            os.chown(self.data, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        self.log = self.data / "server.log"

    def _run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result

    def start(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data / "db"), "-U", "postgres", "-A", "trust", "--no-sync")
        self.pg_ctl("start")
        return self

    def pg_ctl(self, action: str, timeout: float = 180) -> None:
        """``pg_ctl start|stop|restart`` (fast shutdown: open sessions are cut, as in a crash-restart)."""
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        args = ["pg_ctl", action, "-D", str(self.data / "db"), "-w", "-t", str(int(timeout)), "-m", "fast"]
        if action != "stop":
            args += ["-l", str(self.log), "-o", options]
        self._run(*args, timeout=timeout + 10)

    def restart(self, down_seconds: float = 0) -> None:
        """Fast shutdown (open sessions are cut), stay down ``down_seconds``, start again on the same port."""
        self.pg_ctl("stop")
        time.sleep(down_seconds)
        self.pg_ctl("start")

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-c", f"CREATE DATABASE {name}", timeout=60)
        return name

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.pg_ctl("stop")
        shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PrivateRedis:
    """``redis-server`` on a free port, nothing persisted."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = Path(root), free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        server = shutil.which("redis-server")
        if server is None:
            raise FileNotFoundError("redis-server is not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.root / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )

        def answers() -> bool:
            assert self.process.poll() is None, (self.root / "redis.log").read_text()[-2000:]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return True
            return False

        _wait(answers, 120, "redis-server to listen")
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# As docker-compose.yaml: the pipeline uses none of MLflow's server-side jobs (GenAI evaluation, prompt
# optimisation), and their runner is 8 more processes (about 25 CPU s a start; docs/benchmarks.md).
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class MlflowServer:
    """``mlflow server`` on a PostgreSQL backend store, artifacts served from a local folder."""

    def __init__(self, backend_store_uri: str, root: Path, workers: int = 2, app_name: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.backend_store_uri, self.root, self.workers = backend_store_uri, Path(root), workers
        self.app_name, self.env = app_name, env  # e.g. "basic-auth" and its MLFLOW_AUTH_* settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [MLFLOW, "server", "--backend-store-uri", self.backend_store_uri,
                 "--artifacts-destination", (self.root / "artifacts").as_uri(), "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(self.workers),
                 *(["--app-name", self.app_name] if self.app_name else [])],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **MLFLOW_SERVER_ENV, **(self.env or {})},
            )
        _wait(self.healthy, timeout, "the MLflow server to answer /health", interval=1)
        return self

    def healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def log_tail(self, chars: int = 3000) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)

    def restart(self, down_seconds: float = 0, timeout: float = 300) -> None:
        """Stop the server, stay down ``down_seconds``, start it again on the same port."""
        self.stop()
        time.sleep(down_seconds)
        self.start(timeout)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
