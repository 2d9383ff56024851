"""Airflow plugin: from any task of a retraining run, one click to its MLflow run and model version."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.bases.operatorlink import BaseOperatorLink


def _task_result(ti_key, task_id: str):
    """The return value a task of the same DAG run pushed (a small dict), read from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=ti_key.run_id, key="return_value", task_ids=task_id, dag_ids=ti_key.dag_id
        ).limit(1)
        row = session.scalars(query).first()
        return XComModel.deserialize_value(row) if row is not None else None


class MlflowRunLink(BaseOperatorLink):
    name = "MLflow run"

    def get_link(self, operator, *, ti_key) -> str:
        from retrain.links import mlflow_run_url

        if not ti_key.dag_id.startswith("retrain_"):
            return ""
        return mlflow_run_url(_task_result(ti_key, "train"))


class ModelVersionLink(BaseOperatorLink):
    name = "Model version"

    def get_link(self, operator, *, ti_key) -> str:
        from retrain.links import model_version_url

        if not ti_key.dag_id.startswith("retrain_"):
            return ""
        # the version this run registered (its challenger); before evaluate, the outcome's champion
        evaluation = _task_result(ti_key, "evaluate") or {}
        outcome = ({"version": evaluation["challenger_version"]} if evaluation.get("challenger_version")
                   else _task_result(ti_key, "promote") or _task_result(ti_key, "reject"))
        return model_version_url(ti_key.dag_id.removeprefix("retrain_"), outcome)


class DataDocsLink(BaseOperatorLink):
    """The run's data-contract report (GX Data Docs), kept even when validation rejected the partition."""

    name = "Data Docs"

    def get_link(self, operator, *, ti_key) -> str:
        from pathlib import Path

        from retrain.links import data_docs_url, report_folder

        if not ti_key.dag_id.startswith("retrain_"):
            return ""
        snapshot = _task_result(ti_key, "check_freshness")
        if not isinstance(snapshot, dict) or not snapshot.get("partitions"):
            return ""
        partition = Path(snapshot["partitions"][-1]).name
        folder = report_folder(ti_key.dag_id.removeprefix("retrain_"), ti_key.run_id, partition)
        docs = folder / "data_docs" / "index.html"
        return (data_docs_url({"data_docs": str(docs)}) or "") if docs.is_file() else ""


class RetrainPlugin(AirflowPlugin):
    name = "retrain"
    global_operator_extra_links = [MlflowRunLink(), ModelVersionLink(), DataDocsLink()]
