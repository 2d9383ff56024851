"""Airflow DAGs: one batch-scoring DAG per model spec with a `scoring:` section (score_<name>).

Each runs when the model's champion moves or new data lands, and lands predictions as day partitions.
All logic lives in the `retrain` package under include/.
"""

from retrain.orchestration.scoring_dags import build_scoring_dags

globals().update(build_scoring_dags())
