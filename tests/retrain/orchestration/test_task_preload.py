"""Workers import the heavy libraries once, and every task they fork has them (retrain.orchestration.task_preload)."""

from __future__ import annotations

import multiprocessing
import re
import sys
from pathlib import Path

import yaml
from retrain.orchestration.task_preload import CELERY_ENV, LIBRARIES_MODULE, LOCAL_EXECUTOR_ENV

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "torch._dynamo", "mlflow", "mlflow.store.tracking.sqlalchemy_store", "great_expectations",
         "pandas", "pyarrow", "pyarrow.dataset", "matplotlib.figure", "airflow.dag_processing.dagbag",
         "mlflow.tracing.processor.base_mlflow", "git")


def _what_a_forked_task_finds(queue) -> None:
    import gc

    import torch
    from mlflow.utils import requirements_utils

    found = {name: name in sys.modules for name in HEAVY}
    before = len(sys.modules)
    torch.optim.Adam(torch.nn.Linear(4, 1).parameters())  # a train task's first optimizer
    # MLflow's map of installed modules to packages, which every model save and load consults
    packages_mapped = requirements_utils._MODULES_TO_PACKAGES is not None
    queue.put((found, gc.get_freeze_count(), len(sys.modules) - before, packages_mapped))


def test_a_process_forked_from_the_preloading_server_starts_with_the_libraries_imported_and_frozen(capfd):
    """The server is a fresh interpreter that imports the preload, as a worker does; what it prints lands in
    the worker's log (GX imported after Airflow had set up its logging once wrote some 150 lines there)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([LIBRARIES_MODULE])  # what Airflow does with [scheduler] mp_forkserver_preload
    queue = context.Queue()
    child = context.Process(target=_what_a_forked_task_finds, args=(queue,))
    child.start()
    found, frozen, imported_by_the_optimizer, packages_mapped = queue.get(timeout=300)
    child.join(timeout=60)
    assert found == dict.fromkeys(HEAVY, True)
    assert imported_by_the_optimizer < 10  # not torch._dynamo's 800 modules (0.7-1.2 s) in every train task
    assert packages_mapped  # not 0.3-1 s of reading every installed package's files in each train/evaluate task
    assert frozen > 10_000  # the libraries' objects sit in the permanent generation, out of the collector's sight
    printed = capfd.readouterr()
    assert printed.out + printed.err == ""


def test_celery_workers_import_the_libraries_and_keep_airflows_defaults():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from retrain.orchestration.celery_config import CELERY_CONFIG

    assert LIBRARIES_MODULE in CELERY_CONFIG["imports"]
    assert {k: v for k, v in CELERY_CONFIG.items() if k != "imports"} == {
        k: v for k, v in DEFAULT_CELERY_CONFIG.items() if k != "imports"}


def test_the_makefile_and_the_compose_file_set_what_task_preload_names():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    environment = compose["x-airflow-common"]["environment"]
    for key, value in CELERY_ENV.items():
        assert environment[key] == value
    makefile = (ROOT / "Makefile").read_text()
    for key, value in LOCAL_EXECUTOR_ENV.items():
        assert re.search(rf"^export {key} \?= {re.escape(value)}$", makefile, re.M), key
