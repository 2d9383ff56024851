"""A real, running Airflow on this machine for demos and integration tests.

Starts the Airflow 3 components as separate processes, each in its own process group: ``api-server``
(REST API, UI and the execution API the workers talk to), ``scheduler`` (LocalExecutor), ``dag-processor``
and ``triggerer``. Everything lives under one folder (AIRFLOW_HOME, logs, the SQLite database unless a
``database_url`` is given), on free local ports, with a known user for the simple auth manager.
``stop()`` (or leaving the ``with`` block) ends every process group it started.

With ``executor="CeleryExecutor"`` (and a broker and result backend) the scheduler sends tasks to Celery,
and ``start_worker(name, queues)`` starts named ``airflow celery worker`` processes; ``kill(name)`` ends one
the hard way (a crashed machine), ``start_worker`` again brings it back. Each worker reports its ``name``
as the task instances' ``hostname``, so a test can tell which worker ran a task.

    with LocalAirflow(root, env=extra_env) as airflow:
        airflow.api.post_asset_event(dataset_asset_uri("ecommerce/impressions"), {"partition": "2026-11-21"})
        run = airflow.wait_for(lambda: ..., timeout=300, what="a run")
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from retrain.orchestration.airflow_api import get_token
from retrain.orchestration.task_preload import CELERY_ENV, LOCAL_EXECUTOR_ENV

from retrain_demo.airflow_api import HarnessApi

T = TypeVar("T")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalAirflow:
    def __init__(
        self,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        database_url: str | None = None,
        parallelism: int = 1,
        username: str = "admin",
        password: str | None = None,
        executor: str = "LocalExecutor",
        celery_broker_url: str | None = None,
        celery_result_backend: str | None = None,
        migrated: bool = False,
        preload: bool = True,
    ) -> None:
        self.root = Path(root)
        self.home = self.root / "airflow"
        self.logs = self.root / "component-logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.username, self.password = username, password or secrets.token_urlsafe(12)
        self.processes: dict[str, subprocess.Popen] = {}
        self._commands: dict[str, tuple[list[str] | None, Mapping[str, str] | None]] = {}
        self._api: HarnessApi | None = None
        passwords = self.root / "simple_auth_manager_passwords.json"
        preloads = {**LOCAL_EXECUTOR_ENV, **CELERY_ENV} if preload else {}  # heavy imports once per worker
        self.env = {
            **os.environ,
            **preloads,
            **(env or {}),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        }
        if database_url:
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
        if executor == "CeleryExecutor":
            if not (celery_broker_url and celery_result_backend):
                raise ValueError("CeleryExecutor needs celery_broker_url and celery_result_backend")
            self.env["AIRFLOW__CELERY__BROKER_URL"] = celery_broker_url
            self.env["AIRFLOW__CELERY__RESULT_BACKEND"] = celery_result_backend
        self._passwords = passwords
        self.migrated = migrated  # the database is migrated already (a copy of a migrated one): skip db migrate

    # -- lifecycle --------------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        command = [str(Path(sys.executable).parent / "airflow"), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, timeout: float = 300) -> LocalAirflow:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self._passwords.write_text(json.dumps({self.username: self.password}))
        if not self.migrated:
            migrated = self.airflow("db", "migrate", timeout=timeout)
            if migrated.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed:\n{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}")
        try:
            for component in COMPONENTS:
                self._spawn(component)
            self.wait_for(self._healthy, timeout=timeout, what="all Airflow components to report healthy")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, component: str, args: list[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        self._commands[component] = (args, env)
        log = (self.logs / f"{component}.log").open("ab")
        try:
            self.processes[component] = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), *(args or component.split())],
                env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends it and all its children
            )
        finally:
            log.close()

    def restart_exited(self) -> list[str]:
        """Start again every component that exited, as a ``restart: unless-stopped`` policy would; their names."""
        exited = [name for name, process in self.processes.items() if process.poll() is not None]
        for name in exited:
            self._spawn(name, *self._commands[name])
        return exited

    def start_worker(self, name: str, queues: str, *, concurrency: int = 1, timeout: float = 120) -> None:
        """Start ``airflow celery worker --queues QUEUES`` as component ``name``; returns once Celery is ready."""
        log = self.logs / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        self.processes.pop(name, None)
        self._spawn(
            name,
            ["celery", "worker", "--queues", queues, "--concurrency", str(concurrency),
             "--celery-hostname", f"{name}@%h"],
            env={
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),  # one log server per worker
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "retrain_demo.local_airflow.worker_hostname",
                "RETRAIN_WORKER_HOSTNAME": name,
            },
        )

        def ready() -> bool:
            self.check_alive()
            return b" ready." in log.read_bytes()[offset:]

        self.wait_for(ready, timeout=timeout, what=f"Celery worker {name} to be ready", interval=1)

    def kill(self, component: str, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Send ``sig`` to a component's whole process tree, as a machine that dies would, and forget it.

        Its process group is not enough: Airflow's supervisor puts each task runner in a group of its own, so a
        task would outlive its killed worker."""
        import psutil

        process, tree = self.processes.pop(component), []
        with contextlib.suppress(psutil.Error):
            tree = psutil.Process(process.pid).children(recursive=True)
        _signal_group(process.pid, sig)
        for child in tree:
            with contextlib.suppress(psutil.Error):
                child.send_signal(sig)
        process.wait(timeout=timeout)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every process group started here, then SIGKILL what is left after ``grace`` seconds."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process.pid, signal.SIGKILL)  # children that outlived their parent, too
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every process of the stack: each live process's own time plus its
        children's that it has reaped (a process reaped by another live one is counted there, once)."""
        import psutil

        total = 0.0
        for process in self.processes.values():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(process.pid)
                for each in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = each.cpu_times()
                        total += times.user + times.system + times.children_user + times.children_system
        return total

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- talking to it ----------------------------------------------------------------------------------

    @property
    def api(self) -> HarnessApi:
        if self._api is None:
            # 120 s, not the client's 30 s: on a loaded 2-core machine the one api-server worker was seen to
            # take longer (load average 40, 2026-12-01), and a test must not fail on the machine's load.
            token = get_token(self.base_url, self.username, self.password, timeout=120)
            self._api = HarnessApi(self.base_url, token, timeout=120)
        return self._api

    def health(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as response:
            return json.loads(response.read())

    def _healthy(self) -> bool:
        self.check_alive()
        try:
            health = self.health()
        except OSError:
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, component: str, chars: int = 3000) -> str:
        path = self.logs / f"{component}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def wait_for(self, check: Callable[[], T], *, timeout: float, what: str, interval: float | None = None) -> T:
        """Poll ``check`` until it returns something truthy; raise TimeoutError naming ``what`` after ``timeout``.

        Without ``interval`` the polls start 0.5 s apart and space out to 2 s: a run takes tens of seconds, and
        every poll is a request the api-server serves (docs/benchmarks.md, "Developer loop, ninth round")."""
        deadline = time.monotonic() + timeout
        pause = interval or 0.5
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for {what}")
            time.sleep(pause)
            pause = interval or min(2.0, pause * 1.5)

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        def parsed():
            self.check_alive()
            try:
                return self.api.dag(dag_id)
            except Exception:
                return None

        return self.wait_for(parsed, timeout=timeout, what=f"DAG {dag_id} to be parsed")


def worker_hostname() -> str:
    """``[core] hostname_callable`` for workers started by ``start_worker``: the worker's name."""
    from retrain.settings import get_settings

    return get_settings().worker_hostname or socket.getfqdn()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the process group of a child started with start_new_session has its pid
