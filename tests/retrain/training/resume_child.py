"""Child process for the SIGKILL resume test: trains the demo tabular spec through ``train_candidate``.

argv: out_dir airflow_run_id [kill_after_epoch]. With kill_after_epoch, the process SIGKILLs itself as soon
as that epoch's metrics are logged (its checkpoint is already on disk). Final weights go to out_dir/weights.pt.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import mlflow
import torch
from retrain.config import load_spec
from retrain.contracts import RunInfo
from retrain.pipeline import training_stage
from retrain.pipeline.data_stages import check_freshness
from retrain_demo.data import generate_demo_data

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"
END = date(2026, 3, 7)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    out, airflow_run_id = Path(sys.argv[1]), sys.argv[2]
    kill_after = int(sys.argv[3]) if len(sys.argv) > 3 else None
    data_root = Path(os.environ["RETRAIN_DATA_ROOT"])
    if not data_root.exists():
        generate_demo_data(data_root, END, days=3, rows_per_day=1500)
    loaded = load_spec(SPEC)
    spec = loaded.spec
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"epochs": 4, "device": "cpu"})})
    loaded = dataclasses.replace(loaded, spec=spec)
    as_of = datetime(2026, 3, 8, tzinfo=UTC)
    snapshot = check_freshness(loaded, as_of)

    if kill_after is not None:
        original = mlflow.log_metrics

        def log_then_die(metrics, step=None, **kwargs):
            original(metrics, step=step, **kwargs)
            if step == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

        mlflow.log_metrics = log_then_die

    fit = training_stage.build_and_fit

    def fit_and_keep(*args, **kwargs):
        bundle, history = fit(*args, **kwargs)
        torch.save(bundle.model.state_dict(), out / "weights.pt")
        return bundle, history

    training_stage.build_and_fit = fit_and_keep
    run = RunInfo(dag_id=spec.dag_id, run_id=airflow_run_id, try_number=1, as_of=as_of)
    result = training_stage.train_candidate(loaded, snapshot, run)
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
