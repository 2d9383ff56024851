"""Test-wide isolation: every session gets its own Airflow home, MLflow store and data root.

Set before Airflow or MLflow is imported, so no test touches a developer's .airflow/ or .local/.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="retrain-tests-"))
os.environ["AIRFLOW_HOME"] = str(_SESSION_ROOT / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["RETRAIN_LOCAL_STATE"] = str(_SESSION_ROOT / "state")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_ROOT / 'state' / 'mlflow' / 'mlflow.db'}"
os.environ.pop("AIRFLOW_CONN_SLACK_DEFAULT", None)


# -- ordering and grouping ------------------------------------------------------------------------------------
# Every test module is one unit of work (`make test` runs `pytest -n 2 --dist loadgroup`, so a module's
# fixtures start once); the modules that use the shared Airflow (tests/support/shared_airflow.py) are one
# unit and run one after another, so that one stack serves them all and stops after the last. The slowest
# units go first, so that the two workers finish close together.
_SLOWEST_FIRST = ("tests/integration/test_celery_topology.py", "shared_airflow",
                  "tests/integration/test_demo_dag_end_to_end.py", "tests/integration/")


def _unit(item) -> str:
    from tests.support import shared_airflow

    if shared_airflow.FIXTURE in item.fixturenames:
        return shared_airflow.XDIST_GROUP
    return item.nodeid.split("::")[0]


def _rank(unit: str) -> int:
    return next((i for i, prefix in enumerate(_SLOWEST_FIRST) if unit.startswith(prefix)), len(_SLOWEST_FIRST))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    units = [_unit(item) for item in items]
    first_seen = {unit: i for i, unit in reversed(list(enumerate(units)))}
    order = sorted(range(len(items)), key=lambda i: (_rank(units[i]), first_seen[units[i]], i))
    items[:] = [items[i] for i in order]
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_unit(item)))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the shared Airflow after the last test that uses it (the runner's teardown has run by then)."""
    from tests.support import shared_airflow

    uses = shared_airflow.FIXTURE in item.fixturenames
    if uses and (nextitem is None or shared_airflow.FIXTURE not in nextitem.fixturenames):
        shared_airflow.stop()
