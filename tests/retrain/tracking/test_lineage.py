"""What a train run records about its rows: MLflow dataset inputs built from the table's types (tracking/lineage.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
from retrain.tracking.lineage import dataset_input

from tests.support.mlflow_db import migrated_mlflow


def _table(rows: int) -> pa.Table:
    return pa.table({
        "user_id": pa.array([i if i % 3 else None for i in range(rows)], pa.int64()),  # a nullable integer column
        "clicks": pa.array(range(rows), pa.int32()),
        "price": pa.array([float(i) / 7 for i in range(rows)]),
        "country": pa.array(["DE", "FR"] * (rows // 2)).dictionary_encode(),
        "seen_at": pa.array([datetime(2019, 1, 1, tzinfo=UTC)] * rows, pa.timestamp("us", tz="UTC")),
        "returned": pa.array([i % 2 == 0 for i in range(rows)]),
    })


def test_dataset_inputs_carry_schema_row_count_and_a_digest_of_the_snapshot(tmp_path) -> None:
    import mlflow

    uri = migrated_mlflow(tmp_path / "mlflow.db")
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("lineage", artifact_location=(tmp_path / "artifacts").as_uri())
    training, holdout = _table(800), _table(200)
    datasets = [dataset_input(training, name="churn-training", source="shop/orders", fingerprint="f1"),
                dataset_input(holdout, name="churn-holdout", source="shop/orders", fingerprint="f1")]
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_inputs(datasets, contexts=["training", "holdout"], tags_list=[None, None])
    finally:
        mlflow.set_tracking_uri(None)

    logged = {i.dataset.name: i for i in client.get_run(run.info.run_id).inputs.dataset_inputs}
    assert set(logged) == {"churn-training", "churn-holdout"}
    assert {t.key: t.value for t in logged["churn-holdout"].tags}["mlflow.data.context"] == "holdout"
    recorded = logged["churn-training"].dataset
    assert json.loads(recorded.profile) == {"num_rows": 800, "num_elements": 800 * 6}
    assert recorded.source == json.dumps({"uri": "shop/orders"})
    columns = {c["name"]: (c["type"], c["required"]) for c in json.loads(recorded.schema)["mlflow_colspec"]}
    assert columns == {"user_id": ("long", False), "clicks": ("long", True), "price": ("double", True),
                       "country": ("string", True), "seen_at": ("datetime", True), "returned": ("boolean", True)}
    assert logged["churn-training"].dataset.digest != logged["churn-holdout"].dataset.digest


def test_the_digest_follows_the_data_not_the_call() -> None:
    table = _table(100)

    def digest(**change) -> str:
        args = {"table": table, "name": "m-training", "source": "s", "fingerprint": "f1", **change}
        return dataset_input(args.pop("table"), **args).digest

    assert digest() == digest()
    assert digest(fingerprint="f2") != digest(), "other files, other digest"
    assert digest(table=table.slice(0, 90)) != digest(), "other rows of the same files, other digest"
