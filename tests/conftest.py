"""Test-wide isolation: every session gets its own Airflow home, MLflow store and data root.

Set before Airflow or MLflow is imported, so no test touches a developer's .airflow/ or .local/.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.templates import run_folder

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="retrain-tests-"))
atexit.register(shutil.rmtree, _SESSION_ROOT, True)  # each process's own root, gone when it exits
os.environ["AIRFLOW_HOME"] = str(_SESSION_ROOT / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["RETRAIN_LOCAL_STATE"] = str(_SESSION_ROOT / "state")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_ROOT / 'state' / 'mlflow' / 'mlflow.db'}"
os.environ.pop("AIRFLOW_CONN_SLACK_DEFAULT", None)
run_folder()  # migrated templates, shared with the xdist workers started after this (tests/support/templates.py)


# -- ordering and grouping ------------------------------------------------------------------------------------
# `make test` runs `pytest -n 4 --dist loadgroup` (pytest-xdist). Every test module is one unit of work, so a
# module's fixtures start once; the modules that use the shared Airflow (tests/support/shared_airflow.py, found
# by their `share_airflow(stack="..."` call) are one unit per stack and run one after another, so that one
# stack serves them all and stops after the last. The slowest units go first, so that the workers finish close together.
# xdist's own `xdist_group` marks do nothing with pytest 9.2 (they rename `item._nodeid`, which pytest 9 no
# longer reads: tried, the marked tests went to both workers), hence the scheduler below.
_SLOWEST_FIRST = ("tests/integration/test_celery_topology.py", "shared_airflow",
                  "tests/integration/test_demo_dag_end_to_end.py", "tests/integration/test_alert_end_to_end.py",
                  "tests/integration/test_run_once.py", "tests/integration/test_bad_data_catalogue.py",
                  "tests/retrain/orchestration/test_tuning_dag.py", "tests/integration/",
                  "tests/retrain/training/test_resume.py", "tests/security/",
                  "tests/retrain/alerts/test_callback_in_airflow.py")
_units: dict[str, str] = {}


def _unit(path: str) -> str:
    """The unit of work of a test file (a path relative to the repository, as in node ids)."""
    if path not in _units:
        try:
            text = (Path(__file__).resolve().parents[1] / path).read_text()
        except OSError:
            text = ""
        named = re.search(r'share_airflow\(\s*stack="(\w+)"', text)
        stack = named.group(1) if named else "default"
        _units[path] = f"shared_airflow:{stack}" if "share_airflow(" in text else path
    return _units[path]


def _rank(unit: str) -> int:
    return next((i for i, prefix in enumerate(_SLOWEST_FIRST) if unit.startswith(prefix)), len(_SLOWEST_FIRST))


def pytest_collection_modifyitems(config, items):
    units = [_unit(item.nodeid.split("::")[0]) for item in items]
    first_seen = {unit: i for i, unit in reversed(list(enumerate(units)))}
    order = sorted(range(len(items)), key=lambda i: (_rank(units[i]), first_seen[units[i]], i))
    items[:] = [items[i] for i in order]


def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadgroup``: the units above, in collection order (``--no-loadscope-reorder``)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::")[0])

        def _reschedule(self, node) -> None:
            """The next unit once the node runs its last test, not xdist's "two tests left": with tests that
            take minutes, a unit queued behind two of them waited while other workers had nothing to do."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
            elif self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return ModuleUnits(config, log)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the shared Airflow after the last test that uses it (the runner's teardown has run by then)."""
    from tests.support import shared_airflow

    def stack(test):
        if test is None or shared_airflow.FIXTURE not in test.fixturenames:
            return None
        return shared_airflow.stack_of(test.module.__name__)

    if stack(item) is not None and stack(item) != stack(nextitem):
        shared_airflow.stop(item.module.__name__)


def pytest_sessionfinish(session):
    """The run's PostgreSQL template database goes when the whole run ends: in the controller, after every
    xdist worker (or in the one process without xdist)."""
    if not hasattr(session.config, "workerinput"):
        from tests.support.airflow_db import drop_postgres_template

        drop_postgres_template()


_MLFLOW_URI_GLOBALS = (("mlflow.tracking._model_registry.utils", "_registry_uri"),
                       ("mlflow.tracking._tracking_service.utils", "_tracking_uri"))


@pytest.fixture(autouse=True)
def _no_mlflow_uri_leaks():
    """`mlflow.set_registry_uri`/`set_tracking_uri` (the product's `connect` calls them) set process globals and
    MLFLOW_*_URI environment variables; without this, a later test in the same worker (and every subprocess it
    starts with `os.environ`) would read or write an earlier test's store."""
    saved_env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved = {(module, name): getattr(sys.modules.get(module), name, None) for module, name in _MLFLOW_URI_GLOBALS}
    yield
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for (module, name), value in saved.items():
        if module in sys.modules:
            setattr(sys.modules[module], name, value)
