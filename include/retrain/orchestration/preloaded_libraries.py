"""The heavy libraries a retrain task uses, imported by a worker before it forks (see task_preload).

Only third-party libraries (preloaded_third_party) and Airflow's own (Airflow's docs preload ``airflow``
itself): the project's own modules are imported by each task, so a deployed change to them takes effect
without restarting the workers. Importing these starts no thread and does not touch CUDA, so forking
afterwards is safe.
"""

import gc
from importlib import import_module

import retrain.orchestration.preloaded_third_party  # noqa: F401  (torch, MLflow, GX, pandas, pyarrow)

# Airflow last: importing it sets up logging at INFO, and GX's import would then log some 150 lines.
import_module("airflow.dag_processing.dagbag")  # the task runner's parse of the DAG file: 0.27 s a task
import_module("airflow.providers.slack.hooks.slack")  # alerts, the Slack summary

# Out of the collector's sight: a forked task that ran a collection over these objects would touch, and so copy,
# most of their memory pages (0.97 s of CPU at a task's start instead of 0.24 s; docs/benchmarks.md).
gc.freeze()
