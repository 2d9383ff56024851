"""Airflow DAGs: one landing DAG per dataset the model specs read (retrain_land_<dataset>).

Each waits for a day partition's completion marker and then emits the dataset's asset event, which starts
the model DAGs scheduled on it. All logic lives in the `retrain` package under include/.
"""

from retrain.orchestration.landing_dags import build_landing_dags

globals().update(build_landing_dags())
