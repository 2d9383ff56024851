"""What a logged model needs to serve: no code of its own, and from the installed package only the core.

A model is logged by the one path every candidate takes (``training_stage.log_servable_model``), then loaded
with plain ``mlflow.pyfunc.load_model`` in a fresh process, the way a scoring service would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import yaml
from retrain_demo.data import generate_day

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "include" / "specs" / "ecommerce_dwell_time.yaml"

LOAD_AND_PREDICT = """
import json, sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.read_parquet(sys.argv[2])
predicted = model.predict(frame)
print(json.dumps({"columns": list(predicted.columns), "rows": len(predicted),
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in
                                    ("retrain", "retrain_demo", "airflow", "great_expectations"))}))
"""

# what serving a model may import from the package: the core and the loader with its artifact checks
SERVING_PACKAGES = ("retrain.data", "retrain.models", "retrain.training")
SERVING_MODULES = ("retrain", "retrain.errors", "retrain.settings", "retrain.config", "retrain.contracts",
                   "retrain.tracking", "retrain.tracking.pyfunc", "retrain.tracking.artifacts",
                   "retrain.tracking.lineage", "retrain.tracking.tags")


def test_a_logged_model_ships_no_code_and_serves_with_the_core_alone(tmp_path, monkeypatch):
    import mlflow
    import pyarrow as pa
    import torch
    from retrain.config import load_spec
    from retrain.data import split
    from retrain.pipeline.training_stage import build_and_fit, log_servable_model

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    spec = load_spec(SPEC).spec
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"epochs": 1, "device": "cpu"})})
    columns = [*spec.features.columns, *(h.label for h in spec.heads)]
    day = date(2026, 3, 7)
    table = generate_day(day, 300).select(columns).append_column(split.PARTITION_COLUMN, pa.array([f"dt={day}"] * 300))
    train, holdout = split.split(table, split.rule_for(spec), [f"dt={day}"])
    bundle, _ = build_and_fit(spec, train, holdout, torch.device("cpu"))
    experiment = mlflow.create_experiment("serve", artifact_location=(tmp_path / "artifacts").as_uri())
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = client.create_run(experiment).info.run_id
    model_uri, _ = log_servable_model(client, run_id, experiment, spec, bundle, holdout)

    folder = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "copy")))
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert "code" not in flavor or not flavor["code"]
    assert not [p for p in folder.rglob("*.py")], "the logged model carries Python files"

    frame = holdout.select(bundle.feature_columns).slice(0, 7).to_pandas()
    example = tmp_path / "frame.parquet"
    frame.to_parquet(example)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    done = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, model_uri, str(example)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["columns"] == [h.name for h in spec.heads] and out["rows"] == 7
    beyond = [m for m in out["modules"] if m not in SERVING_MODULES
              and not any(m == p or m.startswith(p + ".") for p in SERVING_PACKAGES)]
    assert beyond == [], f"serving a model imported more than the core: {beyond}"
