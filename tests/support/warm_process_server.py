"""The server behind tests.support.warm_process: imports the libraries a DAG run uses once for the whole test run,
then serves every xdist worker on a Unix socket. Each request gets a forked handler, which forks the child that
runs the request's Python script (``airflow``'s console script, a test's own script) in the request's
environment and folder, as ``python <script> <args>`` would, and answers with its exit code.

Airflow is imported only in the child, after its environment (AIRFLOW_HOME, the metadata database) is set:
Airflow reads its configuration when it is imported. The libraries imported here read none of it.
Protocol, one JSON object a line: request ``{"argv", "env", "cwd", "stdout", "stderr", "timeout"}``, answer
``{"returncode", "timed_out"}``. The server ends when its socket file goes (the run's folder is removed at
the run's end) or after an hour without a request (a run that was killed).
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import signal
import socket
import sys
import time
from importlib import import_module

IDLE_SECONDS = 3600
AIRFLOW_THIRD_PARTY = ("aiohttp", "cadwyn", "flask", "fsspec", "httpx", "libcst", "pathspec", "pendulum",
                       "pydantic_settings", "rich.console", "structlog", "trio", "upath", "werkzeug")


def _preload() -> None:
    import retrain.orchestration.preloaded_third_party  # noqa: F401  (the workers' preload, less Airflow)

    # Airflow's own third-party imports that the preload lacks (0.9 s of a child's CPU); none reads Airflow's
    # configuration or the environment when imported.
    for name in AIRFLOW_THIRD_PARTY:
        import_module(name)
    gc.freeze()


def _wait(pid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": False}
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"returncode": -signal.SIGKILL, "timed_out": True}
        time.sleep(0.05)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def serve(path: str) -> dict:
    """Accepts requests until the socket file goes; returns only in a child, with the request it is to run."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(64)
    _preload()
    os.rename(path + ".new", path)  # clients connect once the libraries are in
    listener.settimeout(2)
    last = time.monotonic()
    while os.path.exists(path) and time.monotonic() - last < IDLE_SECONDS:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            _reap()
            continue
        last = time.monotonic()
        if os.fork() == 0:  # the handler: runs one request, answers, ends
            listener.close()
            connection.settimeout(None)
            request = json.loads(connection.makefile().readline())
            pid = os.fork()
            if pid == 0:
                connection.close()
                return request
            connection.sendall((json.dumps(_wait(pid, request["timeout"])) + "\n").encode())
            os._exit(0)
        connection.close()
        _reap()
    sys.exit(0)


if __name__ == "__main__":
    request = serve(sys.argv[1])
    # The child: a process of its own group (a timeout kills whatever it started), then the script, in the
    # request's environment and folder.
    os.setsid()
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path in ((0, os.devnull), (1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")
