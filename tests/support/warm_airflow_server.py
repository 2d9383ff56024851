"""The server behind tests.support.warm_airflow: imports the libraries a DAG run uses, then forks one child per
request, and the child becomes ``airflow <args>`` in the request's environment.

Airflow itself is imported only in the child, after its environment (AIRFLOW_HOME, the metadata database) is
set: Airflow reads its configuration when it is imported. The libraries imported here read none of it.
Protocol, one JSON object a line: request ``{"argv", "env", "cwd", "stdout", "stderr", "timeout"}`` on stdin,
answer ``{"returncode", "timed_out"}`` on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time


def _preload() -> None:
    import great_expectations  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import mlflow  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401
    from mlflow.utils import requirements_utils

    requirements_utils._init_packages_to_modules_map()
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


def serve() -> dict:
    """Answers requests until stdin closes; returns only in a child, with the request it is to run."""
    _preload()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            return request
        print(json.dumps(_wait(pid, request["timeout"])), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    request = serve()
    # The child: a process of its own group (a timeout kills whatever it started), then what the `airflow`
    # console script is, in the request's environment and folder.
    os.setsid()
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path in ((0, os.devnull), (1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(request["argv"][0])
    from airflow.__main__ import main

    sys.exit(main())
