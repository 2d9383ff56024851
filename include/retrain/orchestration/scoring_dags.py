"""One batch-scoring DAG per spec with a ``scoring:`` section: ``score_<name>``.

Scheduled on the model's champion Asset (``mlflow-model://<name>``, updated by promotion and rollback) and
on the dataset's Asset (a new partition), so predictions follow both a new champion and new data. Its one
task scores the newest complete partition with the champion and lands the predictions as a partition with
its completion marker; its outlet, the predictions Asset, puts model -> predictions in the Asset graph.
"""

from __future__ import annotations

import logging

from retrain.config import LoadedSpec, discover_specs
from retrain.orchestration.dag_parts import alert_on_failure, stage_task
from retrain.orchestration.retries import default_task_args
from retrain.settings import get_settings

log = logging.getLogger(__name__)


def scoring_dag_id(model_name: str) -> str:
    return f"score_{model_name}"


def build_scoring_dag(loaded: LoadedSpec):
    from airflow.sdk import DAG, get_current_context

    from retrain.assets import dataset_asset, model_asset, predictions_asset

    spec = loaded.spec
    assert spec.scoring is not None
    champion, data, predictions = model_asset(spec.name), dataset_asset(spec.data.location), predictions_asset(
        spec.scoring.output)
    with DAG(
        dag_id=scoring_dag_id(spec.name),
        description=f"Score the newest {spec.data.location} partition with {spec.name}@champion",
        schedule=champion | data,
        catchup=False,
        max_active_runs=1,
        tags=["retrain", "scoring", *spec.tags],
        doc_md=(f"### Score with `{spec.name}@champion`\n\nRuns when the champion moves (`{champion.uri}`) or a "
                f"partition lands (`{data.uri}`). Lands predictions under `{spec.scoring.output}` "
                f"(`dt=YYYY-MM-DD/part-00000.parquet`, then `_SUCCESS`)."),
        params={"model_name": spec.name},
        default_args={"owner": spec.owner, "on_failure_callback": alert_on_failure(spec.alerts),
                      **default_task_args()},
    ) as dag:

        @stage_task(outlets=[predictions])
        def score_newest_partition() -> dict:
            from retrain.pipeline.scoring_stage import score_newest_partition as stage

            landed = stage(loaded)
            if landed is None:
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(f"{spec.name} has no champion yet: nothing to score with")
            get_current_context()["outlet_events"][predictions].extra = landed
            return landed

        score_newest_partition()
    return dag


def build_scoring_dags(specs_dir=None) -> dict:
    dags = {}
    for item in discover_specs(specs_dir or get_settings().specs_dir):
        if not isinstance(item, LoadedSpec) or item.spec.scoring is None:
            continue
        try:
            dags[scoring_dag_id(item.spec.name)] = build_scoring_dag(item)
        except Exception:  # one spec must never take the other DAGs down
            log.exception("cannot build the scoring DAG for %s", item.path)
    return dags
