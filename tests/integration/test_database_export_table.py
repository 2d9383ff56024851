"""A table as a database export or Spark writes it: ``decimal(12,2)`` money (a feature and the regression
label), an unsigned ``uint16`` year, an ``int8`` 0/1 label, a 16-digit ``int64`` id, a timestamp nobody
trains on; two ``part-…-c000.snappy.parquet`` files a day beside their ``.crc`` checksums and an empty
``_SUCCESS``, as Spark leaves them; 14 days of data from 2011.

The stages the DAG's tasks call train, log, gate and promote it, and the champion serves the newest day read
back with pandas, where the decimals are Python ``Decimal`` objects. (Seen on 2026-12-03: MLflow could not
write the model's input example, "Object of type Decimal is not JSON serializable", and ``train`` was
retried three times on it.)
"""

from __future__ import annotations

import decimal
import uuid
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from retrain.config import load_spec

from tests.support.daily_runs import run_day
from tests.support.mlflow_db import isolated_product_state

pytestmark = pytest.mark.slow

NAME = "home_sales"
LAST_DAY = date(2011, 5, 14)
DAYS = 14
ROWS_PER_DAY = 120


def _day(day: date, rng: np.random.Generator) -> pa.Table:
    sqft = rng.integers(500, 5000, ROWS_PER_DAY)
    price = 50_000 + sqft * 180.0 + rng.normal(0, 40_000, ROWS_PER_DAY)
    money = pa.decimal128(12, 2)
    return pa.table({
        "listing_id": pa.array(rng.integers(10**15, 10**16, ROWS_PER_DAY), pa.int64()),
        "sqft": pa.array(sqft, pa.int32()),
        "lot_acres": pa.array([decimal.Decimal(f"{x:.2f}") for x in rng.uniform(0.05, 3.0, ROWS_PER_DAY)],
                              pa.decimal128(6, 2)),
        "year_built": pa.array(rng.integers(1900, 2011, ROWS_PER_DAY), pa.uint16()),
        "listed_at": pa.array([datetime.combine(day, datetime.min.time())] * ROWS_PER_DAY, pa.timestamp("us")),
        "neighborhood": pa.array(rng.choice(["north", "south", "east", "west"], ROWS_PER_DAY)),
        "sold_within_30d": pa.array((sqft < 2500).astype("int8"), pa.int8()),
        "sale_price": pa.array([decimal.Decimal(f"{p:.2f}") for p in price], money),
    })


def _write_like_spark(table: pa.Table, folder) -> None:
    folder.mkdir(parents=True)
    half = table.num_rows // 2
    for i, part in enumerate((table.slice(0, half), table.slice(half))):
        name = f"part-{i:05d}-{uuid.uuid4()}-c000.snappy.parquet"
        pq.write_table(part, folder / name, compression="snappy")
        (folder / f".{name}.crc").write_bytes(b"\x00crc")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "._SUCCESS.crc").write_bytes(b"\x00crc")


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    isolated_product_state(tmp_path, monkeypatch)
    rng = np.random.default_rng(11)
    for offset in range(DAYS):
        day = LAST_DAY - timedelta(days=offset)
        _write_like_spark(_day(day, rng), tmp_path / "data" / "sales" / f"dt={day}")
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "sales.yaml").write_text(yaml.safe_dump({"name": "sales", "expectations": [
        {"expect": "column_values_to_be_between", "column": "lot_acres", "min_value": 0, "max_value": 100},
        {"expect": "column_values_to_be_unique", "column": "listing_id"},
    ]}))
    spec = {
        "name": NAME,
        "owner": "pricing-ml",
        "data": {"location": "sales", "training_window_days": DAYS, "holdout_key": ["listing_id"],
                 "freshness": {"max_age_hours": 48, "min_rows": 100}},
        "features": {"numeric": ["sqft", "lot_acres", "year_built"], "categorical": ["neighborhood"]},
        "heads": [{"name": "price", "label": "sale_price", "kind": "regression"},
                  {"name": "quick_sale", "label": "sold_within_30d", "kind": "binary"}],
        "architecture": {"type": "tabular_mlp", "hidden_units": [16]},
        "training": {"epochs": 20, "batch_size": 64, "learning_rate": 0.01, "device": "cpu"},
        "validation": {"suite": str(tmp_path / "suites" / "sales.yaml")},
        "gate": {"heads": {"price": {"thresholds": {"r2": {"min": 0.3}}}}},
    }
    (tmp_path / f"{NAME}.yaml").write_text(yaml.safe_dump(spec))
    return load_spec(tmp_path / f"{NAME}.yaml")


def test_decimal_and_unsigned_columns_train_promote_and_serve(loaded, tmp_path):
    import mlflow

    result = run_day(loaded, LAST_DAY, "manual__sales")
    assert len(result["snapshot"]["partitions"]) == DAYS
    assert result["evaluation"]["candidate"]["price"]["r2"] > 0.3  # sqft decides the price: the decimal label was learnt
    assert result["decision"]["promote"] and result["promoted"], result["decision"]

    newest = pd.concat(pd.read_parquet(f) for f in sorted((tmp_path / "data" / "sales" / f"dt={LAST_DAY}").glob("*.parquet")))
    assert isinstance(newest["lot_acres"].iloc[0], decimal.Decimal) and newest["year_built"].dtype == np.uint16
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    predictions = model.predict(newest)
    assert len(predictions) == len(newest) and predictions.notna().all().all()
    price = newest["sale_price"].astype(float)
    assert np.corrcoef(predictions["price"], price)[0, 1] > 0.5  # in dollars, not standardised units
    assert abs(predictions["price"].mean() - price.mean()) < 0.2 * price.mean()
