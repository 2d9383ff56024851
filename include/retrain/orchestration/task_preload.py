"""Task start without the heavy imports: each worker imports torch, MLflow and GX once, before it forks tasks.

Every Airflow 3 task runs in a process forked (not exec'd) from its worker, so what the worker has imported,
each task has for free; otherwise a retrain task spends 1-4 s of CPU importing torch, MLflow and Great
Expectations before it does any work (docs/benchmarks.md, "Developer loop, third round").
All of it is Airflow's and Celery's own settings:

* LocalExecutor: ``[scheduler] mp_start_method = forkserver`` and ``[scheduler] mp_forkserver_preload``
  naming ``retrain.orchestration.preloaded_libraries``: the executor's workers fork from a server that
  imported it (Airflow 3.3);
* CeleryExecutor: ``[celery] celery_config_options`` naming ``retrain.orchestration.celery_config.CELERY_CONFIG``,
  Airflow's defaults plus that module in Celery's ``imports``, loaded by the worker before it forks its pool.

The Makefile, docker-compose.yaml and the local stacks (retrain_demo.local_airflow) set them from here.
"""

from __future__ import annotations

LIBRARIES_MODULE = "retrain.orchestration.preloaded_libraries"

LOCAL_EXECUTOR_ENV = {
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": LIBRARIES_MODULE,
}
CELERY_ENV = {"AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "retrain.orchestration.celery_config.CELERY_CONFIG"}
