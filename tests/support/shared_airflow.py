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

It starts at the first test that needs it and stops after the last one: the test session runs the modules of
one stack one after another (tests/conftest.py groups them, and with pytest-xdist sends them to one worker: it
finds them by their ``share_airflow(stack=...`` call). There are several stacks, so that two workers can run
modules side by side: ``stack="..."`` names the one a module joins (give a new module the stack whose
modules take least time; docs/benchmarks.md has the times).
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.arrival_stack import ArrivalStack, arrival_stack

FIXTURE = "shared_airflow"
DEFAULT_STACK = "default"


@dataclass
class _Declared:
    specs: dict[str, dict] = field(default_factory=dict)
    dag_files: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


_declared: dict[str, _Declared] = {}
_module_stack: dict[str, str] = {}  # test module name -> the stack it shares
_running: dict[str, tuple[ExitStack, ArrivalStack]] = {}


def share_airflow(*, stack: str = DEFAULT_STACK, specs: list[dict] = (), dag_files: list[Path] = (),
                  env: dict[str, str] | None = None) -> None:
    """Declare what a module needs in the shared stack named ``stack``; call it at import time of the module,
    with ``stack=`` as the first argument (tests/conftest.py reads it from the source to group the modules)."""
    _module_stack[sys._getframe(1).f_globals["__name__"]] = stack
    declared = _declared.setdefault(stack, _Declared())
    for spec in specs:
        if spec["name"] in declared.specs and declared.specs[spec["name"]] != spec:
            raise ValueError(f"two modules declare different specs named {spec['name']!r}")
        declared.specs[spec["name"]] = spec
    for path in dag_files:
        if Path(path) not in declared.dag_files:
            declared.dag_files.append(Path(path))
    for key, value in (env or {}).items():
        if declared.env.get(key, value) != value:
            raise ValueError(f"two modules need different values of {key}")
        declared.env[key] = value


def stack_of(module: str) -> str:
    return _module_stack.get(module, DEFAULT_STACK)


def get(module: str) -> ArrivalStack:
    """The running stack that ``module`` shares, started if needed."""
    name = stack_of(module)
    if name not in _running:
        declared = _declared.get(name, _Declared())
        root = Path(tempfile.mkdtemp(prefix=f"retrain-shared-airflow-{name}-"))
        env = {key: value.replace("{root}", str(root)) for key, value in declared.env.items()}
        exits = ExitStack()
        try:
            stack = exits.enter_context(arrival_stack(root, list(declared.specs.values()), paused_at_creation=True,
                                                      dag_files=list(declared.dag_files), env=env))
        except BaseException:
            exits.close()
            raise
        _running[name] = (exits, stack)
    return _running[name][1]


def stop(module: str | None = None) -> None:
    """Stop the stack ``module`` shares (every running one without a module)."""
    names = [stack_of(module)] if module else list(_running)
    for name in names:
        if name in _running:
            exits, _ = _running.pop(name)
            exits.close()
