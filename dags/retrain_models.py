"""Airflow DAGs: one retraining DAG per model spec in include/specs/ (built by the factory).

This file only wires: all logic lives in the `retrain` package under include/.
"""

from retrain.orchestration.dag_factory import build_all

globals().update(build_all())
