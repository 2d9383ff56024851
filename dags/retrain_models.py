"""Airflow DAGs: one retraining DAG per model spec in include/specs/ (built by the factory).

This file only wires: all logic lives in the `retrain` package under include/. With RETRAIN_PARSE_SHARDS=N,
`retrain dag-shards` copies it to retrain_models_shard_<k>.py and each copy builds its share of the specs.
"""

from retrain.orchestration.dag_factory import build_all

globals().update(build_all(dag_file=__file__))
