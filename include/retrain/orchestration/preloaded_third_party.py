"""The third-party half of the workers' preload (preloaded_libraries): what a retrain task imports besides Airflow.

None of it reads Airflow's configuration, so a process may import it before its Airflow environment is known
(the tests' warm processes do). Importing it starts no thread and does not touch CUDA.
"""

import contextlib

import great_expectations  # noqa: F401
import matplotlib.backends.backend_agg  # noqa: F401  (the plots a run logs)
import matplotlib.figure  # noqa: F401
import mlflow  # noqa: F401
import mlflow.pyfunc  # noqa: F401
import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401  (a SQL store's first use in a task)
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
import mlflow.tracing.processor.base_mlflow  # noqa: F401  (MLflow's tracer reset when a task sets its tracking URI)
import pandas  # noqa: F401
import pyarrow.dataset  # noqa: F401  (reading a partitioned table)
import pyarrow.parquet  # noqa: F401
import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (imported by a torch optimizer's first construction: 0.7-1.2 s a train task)
from mlflow.utils import requirements_utils

with contextlib.suppress(ImportError):  # gitpython raises ImportError where no git executable is installed
    import git  # noqa: F401  (MLflow's source-commit tag at a run's start; its import runs `git version`)

# MLflow compares a model's pins with the installed packages when it saves or loads one, after mapping every
# installed module to its distribution: 0.3-1 s of CPU in each train and evaluate task. The packages do not
# change under a running worker, so the map is built once here. (A private helper: skipped if MLflow renames it.)
getattr(requirements_utils, "_init_packages_to_modules_map", lambda: None)()
