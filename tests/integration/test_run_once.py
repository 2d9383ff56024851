"""`retrain run` as a new user tries it: a spec shaped like the README's "Add a model" example (no
`schedule.start_date`), run once for a date years in the past, trains and gates, and says what it did.

It used to finish `success` with zero tasks run (a hidden default start date of 2026-01-01).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from retrain.data.demo import generate_demo_data

from tests.support.mlflow_db import migrated_mlflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

README_LIKE_SPEC = {  # the README example's shape, on the demo data's columns; no start_date, no wait
    "name": "churn_like",
    "owner": "crm-ml",
    "schedule": {"cron": "0 4 * * *", "timezone": "Europe/Berlin"},
    "data": {"location": "crm/impressions", "training_window_days": 3,
             "freshness": {"max_age_hours": 36, "min_rows": 500}},
    "features": {"numeric": ["price", "discount_pct"], "categorical": ["device", "country"]},
    "heads": [{"name": "atc", "label": "add_to_cart", "kind": "binary"}],
    "architecture": {"type": "tabular_mlp", "hidden_units": [8]},
    "training": {"epochs": 1, "batch_size": 512},
    "validation": {"suite": "expectations/ecommerce_impressions.yaml"},
}


def test_a_spec_without_start_date_runs_for_2013(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "churn_like.yaml").write_text(yaml.safe_dump(README_LIKE_SPEC))
    generate_demo_data(tmp_path / "data", date(2013, 6, 10), days=3, rows_per_day=1200, dataset="crm/impressions")
    env = {
        **os.environ,
        "RETRAIN_SPECS_DIR": str(specs),
        "RETRAIN_DATA_ROOT": str(tmp_path / "data"),
        "RETRAIN_LOCAL_STATE": str(tmp_path / "state"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "MLFLOW_TRACKING_URI": migrated_mlflow(tmp_path / 'mlflow.db'),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    done = subprocess.run([sys.executable, "-m", "retrain.cli", "run", "churn_like", "--as-of", "2013-06-10"],
                          env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert '"as_of": "2013-06-10"' in out and '"wait_minutes": 0.0' in out  # a past date does not wait
    assert "Gate decision: promote" in out and "Champion:      churn_like version 1" in out, out[-3000:]
    assert "train=success" in out and "check_freshness=success" in out

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"], registry_uri=env["MLFLOW_TRACKING_URI"])
    [run] = client.search_runs([client.get_experiment_by_name("churn_like").experiment_id])
    assert run.data.tags["retrain.as_of"].startswith("2013-06-11T00:00")  # the end of the asked-for day
    assert run.data.params["partitions"] == "3"
