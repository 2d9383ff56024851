"""A table as pandas writes it from a real source with nullable dtypes (``read_csv(dtype_backend=...)``,
``convert_dtypes()``): a nullable ``Int64`` numeric feature with nulls, a nullable ``boolean`` label with
unlabeled rows, a ``bool`` and an integer-coded categorical, 28 days of data from 2012.

The parquet files carry pandas' metadata, so reading them back with pandas gives the same nullable dtypes.
The stages the DAG's tasks call train, log, gate and promote the model, and the champion then serves a frame
read back with pandas through a plain ``mlflow.pyfunc.load_model``. (Seen on 2026-12-02: MLflow's signature
refused ``Int64`` for the model's input example, and ``train`` was retried three times on that.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from retrain.config import load_spec
from retrain.contracts import RunInfo
from retrain.data.landing import write_partition

from tests.support.mlflow_db import isolated_product_state

pytestmark = pytest.mark.slow

NAME = "bike_demand"
LAST_DAY = date(2012, 6, 30)
DAYS = 28
ROWS_PER_DAY = 240


def _day(day: date, rng: np.random.Generator) -> pd.DataFrame:
    hour = np.tile(np.arange(24), ROWS_PER_DAY // 24)
    temp = rng.normal(0.5, 0.15, ROWS_PER_DAY)
    weather = pd.array(rng.integers(1, 4, ROWS_PER_DAY), dtype="Int64")
    weather[rng.random(ROWS_PER_DAY) < 0.1] = pd.NA
    rides = np.round(50 + 200 * np.exp(-(((hour - 17) / 3.0) ** 2)) + 150 * temp + rng.normal(0, 20, ROWS_PER_DAY))
    rides = pd.array(rides.astype(int), dtype="Int64")
    unlabeled = rng.random(ROWS_PER_DAY) < 0.1
    rides[unlabeled] = pd.NA
    busy = pd.array(np.asarray(rides.fillna(0)) > 180, dtype="boolean")
    busy[unlabeled] = pd.NA
    return pd.DataFrame({
        "ride_id": [f"{day}-{i}" for i in range(ROWS_PER_DAY)],
        "hour": pd.array(hour, dtype="Int64"),
        "weather": weather,
        "temp": temp,
        "working_day": rng.random(ROWS_PER_DAY) < 0.7,
        "station": pd.array(rng.integers(100, 104, ROWS_PER_DAY), dtype="Int64"),
        "wind": pd.array([pd.NA] * ROWS_PER_DAY, dtype="Float64"),  # a sensor that never reported
        "rides": rides,
        "busy": busy,
    })


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    isolated_product_state(tmp_path, monkeypatch)
    rng = np.random.default_rng(7)
    for offset in range(DAYS):
        day = LAST_DAY - timedelta(days=offset)
        write_partition(pa.Table.from_pandas(_day(day, rng), preserve_index=False), tmp_path / "data" / "bikes", day)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "bikes.yaml").write_text(yaml.safe_dump({"name": "bikes", "expectations": [
        {"expect": "column_values_to_be_between", "column": "hour", "min_value": 0, "max_value": 23},
        {"expect": "column_values_to_be_in_type_list", "column": "weather", "type_list": ["Int64", "int64"]},
        {"expect": "column_values_to_be_unique", "column": "ride_id"},
    ]}))
    spec = {
        "name": NAME,
        "owner": "mobility-ml",
        "data": {"location": "bikes", "training_window_days": DAYS, "drop_unlabeled_rows": True,
                 "holdout_key": ["ride_id"], "freshness": {"max_age_hours": 48, "min_rows": 100}},
        "features": {"numeric": ["temp", "hour", "weather", "wind"], "categorical": ["working_day", "station"]},
        "heads": [{"name": "demand", "label": "rides", "kind": "regression"},
                  {"name": "busy", "label": "busy", "kind": "binary"}],
        "architecture": {"type": "tabular_mlp", "hidden_units": [16]},
        "training": {"epochs": 2, "batch_size": 256, "device": "cpu"},
        "validation": {"suite": str(tmp_path / "suites" / "bikes.yaml")},
    }
    (tmp_path / f"{NAME}.yaml").write_text(yaml.safe_dump(spec))
    return load_spec(tmp_path / f"{NAME}.yaml")


def test_nullable_pandas_dtypes_train_promote_and_serve(loaded, tmp_path):
    import mlflow
    from retrain.errors import DataReadError
    from retrain.pipeline import gating_stage
    from retrain.pipeline.data_stages import check_freshness, validate_data
    from retrain.pipeline.training_stage import train_candidate

    as_of = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    snapshot = check_freshness(loaded, as_of)
    assert len(snapshot["partitions"]) == DAYS  # 28 days, from 2012
    validation = validate_data(loaded, snapshot)
    trained = train_candidate(loaded, snapshot, RunInfo(loaded.spec.dag_id, "manual__bikes", 1, as_of), validation)
    # the contract passes with a warning that reaches the run and its summary, not only the task log
    [warning] = trained["data_warnings"]
    assert warning.startswith("retrain_feature_has_values on wind: feature 'wind' is null in all ")
    assert mlflow.MlflowClient().get_run(trained["run_id"]).data.tags["retrain.data_warnings"] == f'["{warning}"]'
    evaluation = gating_stage.evaluate(loaded, snapshot, trained, plots=False)
    decision = gating_stage.gate(loaded, evaluation, trained)
    assert decision["promote"], decision
    gating_stage.promote(loaded, trained, evaluation, decision, actor="test")

    # the newest day as a user reads it back: pandas restores Int64 / boolean from the file's metadata
    newest = pd.read_parquet(next((tmp_path / "data" / "bikes" / f"dt={LAST_DAY}").glob("*.parquet")))
    assert str(newest["weather"].dtype) == "Int64" and newest["weather"].isna().any()
    assert str(newest["station"].dtype) == "Int64" and newest["working_day"].dtype == bool
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    predictions = model.predict(newest)
    assert list(predictions.columns) == ["demand", "busy"] and len(predictions) == len(newest)
    assert predictions.notna().all().all()
    assert predictions["busy"].between(0, 1).all()

    broken = newest.assign(temp=["warm"] * len(newest))
    with pytest.raises(DataReadError, match="column 'temp' must be numeric"):
        model.predict(broken)
