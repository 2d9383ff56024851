"""The heavy libraries a retrain task uses, imported by a worker before it forks (see task_preload).

Only third-party libraries and Airflow's own (Airflow's docs preload ``airflow`` itself): the project's own
modules are imported by each task, so a deployed change to them takes effect without restarting the workers.
Importing these starts no thread and does not touch CUDA, so forking afterwards is safe.
"""

import gc
from importlib import import_module

import great_expectations  # noqa: F401
import matplotlib.backends.backend_agg  # noqa: F401  (the plots a run logs)
import matplotlib.figure  # noqa: F401
import mlflow  # noqa: F401
import mlflow.pyfunc  # noqa: F401
import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401  (a SQL store's first use in a task)
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (imported by a torch optimizer's first construction: 0.7-1.2 s a train task)
from mlflow.utils import requirements_utils

# MLflow compares a model's pins with the installed packages when it saves or loads one, after mapping every
# installed module to its distribution: 0.3-1 s of CPU in each train and evaluate task. The packages do not
# change under a running worker, so the map is built once here. (A private helper: skipped if MLflow renames it.)
getattr(requirements_utils, "_init_packages_to_modules_map", lambda: None)()

# Airflow last: importing it sets up logging at INFO, and GX's import would then log some 150 lines.
import_module("airflow.dag_processing.dagbag")  # the task runner's parse of the DAG file: 0.27 s a task
import_module("airflow.providers.slack.hooks.slack")  # alerts, the Slack summary

# Out of the collector's sight: a forked task that ran a collection over these objects would touch, and so copy,
# most of their memory pages (0.97 s of CPU at a task's start instead of 0.24 s; docs/benchmarks.md).
gc.freeze()
