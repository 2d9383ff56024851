"""One running Airflow shared by every integration test module that can share it.

Starting a stack (api-server, scheduler, dag-processor, triggerer, the first parse) costs about a minute
here; modules used to start one each. Now a module declares, when it is imported (collection imports every
module before any test runs), what it needs in the shared stack, and asks for the ``shared_airflow``
fixture (tests/integration/conftest.py), an ``ArrivalStack`` (tests/support/arrival_stack.py):

    share_airflow(specs=[small_esmm_spec("my_model", location="my/dataset", ...)],
                  dag_files=[ROOT / "tests/support/my_dags/my_probe.py"],
                  env={"MY_PROBE_FILE": "{root}/probe"})           # {root}: the stack's folder

    def test_something(shared_airflow):
        shared_airflow.api.set_paused("retrain_my_model", False)
        ...

The stack: LocalExecutor with ONE worker slot, PostgreSQL metadata database (SQLite without a server),
SQLite MLflow store, a Slack stand-in (``shared_airflow.slack``), every DAG **paused at creation**
(unpause yours), ``RETRAIN_RETRY_DELAY_SECONDS=1``, ``RETRAIN_SENSOR_POLL_SECONDS=2``. Rules that keep
modules independent: give your specs their own names and their own dataset ``location`` (an asset event
on a shared dataset would queue runs of another module's DAGs), call ``shared_airflow.slack.reset()``
before counting messages, and leave no run of yours unfinished.

It starts at the first test that needs it and stops after the last one: the test session runs these
modules one after another (tests/conftest.py groups them, and with pytest-xdist sends them to one worker:
it finds them by their ``share_airflow(`` call).
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.support.arrival_stack import ArrivalStack, arrival_stack

FIXTURE = "shared_airflow"

_specs: dict[str, dict] = {}
_dag_files: list[Path] = []
_env: dict[str, str] = {}
_running: tuple[ExitStack, ArrivalStack] | None = None


def share_airflow(*, specs: list[dict] = (), dag_files: list[Path] = (), env: dict[str, str] | None = None) -> None:
    """Declare what a module needs in the shared stack; call it at import time of the module."""
    for spec in specs:
        if spec["name"] in _specs and _specs[spec["name"]] != spec:
            raise ValueError(f"two modules declare different specs named {spec['name']!r}")
        _specs[spec["name"]] = spec
    for path in dag_files:
        if Path(path) not in _dag_files:
            _dag_files.append(Path(path))
    for key, value in (env or {}).items():
        if _env.get(key, value) != value:
            raise ValueError(f"two modules need different values of {key}")
        _env[key] = value


def get() -> ArrivalStack:
    """The running shared stack, started if needed."""
    global _running
    if _running is None:
        root = Path(tempfile.mkdtemp(prefix="retrain-shared-airflow-"))
        env = {key: value.replace("{root}", str(root)) for key, value in _env.items()}
        exits = ExitStack()
        try:
            stack = exits.enter_context(arrival_stack(root, list(_specs.values()), paused_at_creation=True,
                                                      dag_files=list(_dag_files), env=env))
        except BaseException:
            exits.close()
            raise
        _running = (exits, stack)
    return _running[1]


def stop() -> None:
    global _running
    if _running is not None:
        exits, _ = _running
        _running = None
        exits.close()
