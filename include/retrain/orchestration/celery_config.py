"""Celery settings for the workers: Airflow's defaults, plus the heavy libraries imported before the pool forks.

``[celery] celery_config_options = retrain.orchestration.celery_config.CELERY_CONFIG`` (why: task_preload).
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from retrain.orchestration.task_preload import LIBRARIES_MODULE

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), LIBRARIES_MODULE)}
