"""Airflow DAGs: one tuning DAG (tune_<name>) per model spec with a `tuning:` section.

This file only wires: all logic lives in the `retrain` package under include/.
"""

from retrain.orchestration.tuning_dag import build_all_tuning

globals().update(build_all_tuning())
