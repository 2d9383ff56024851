"""The heavy libraries a retrain task uses, imported by a worker before it forks (see task_preload).

Only third-party libraries: the project's own modules are imported by each task, so a deployed change to them
takes effect without restarting the workers. Importing these starts no thread and does not touch CUDA, so
forking afterwards is safe.
"""

import gc

import great_expectations  # noqa: F401
import mlflow  # noqa: F401
import mlflow.pyfunc  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import torch  # noqa: F401

# Out of the collector's sight: a forked task that ran a collection over these objects would touch, and so copy,
# most of their memory pages (0.97 s of CPU at a task's start instead of 0.24 s; docs/benchmarks.md).
gc.freeze()
