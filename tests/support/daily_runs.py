"""Daily pipeline runs in-process for integration tests: the stages the DAG's tasks call, without a scheduler."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from retrain.config import LoadedSpec, load_spec
from retrain.contracts import RunInfo
from retrain.data.landing import write_partition
from retrain.errors import DataContractError
from retrain_demo.data import generate_day

from tests.support.mlflow_db import migrated_mlflow

ROOT = Path(__file__).resolve().parents[2]


def small_daily_model(tmp_path: Path, monkeypatch, *, first: date, days: int, window: int, rows: int,
                      bad: date | None = None) -> LoadedSpec:
    """The dwell-time demo spec made cheap (1 epoch, ``window`` days, keyed holdout on event_id), with ``days``
    days of generated data from ``first``; ``bad`` lands with a nullable feature entirely null."""
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(tmp_path / 'state' / 'mlflow.db'))
    loaded = load_spec(ROOT / "include" / "specs" / "ecommerce_dwell_time.yaml")
    spec = loaded.spec
    spec = spec.model_copy(update={
        "data": spec.data.model_copy(update={
            "training_window_days": window, "holdout_key": ["event_id"],
            "freshness": spec.data.freshness.model_copy(update={"min_rows": 10}),
        }),
        "training": spec.training.model_copy(update={"epochs": 1, "batch_size": 256, "device": "cpu"}),
        # a threshold any trained model clears, so the runs are decided by the champion comparison
        "gate": spec.gate.model_copy(update={"heads": {
            "click": spec.gate.heads["click"].model_copy(update={"thresholds": {}}),
            "dwell": spec.gate.heads["dwell"].model_copy(update={"thresholds": {}}),
        }}),
    })
    dataset = tmp_path / "data" / spec.data.location
    for offset in range(days):
        day = first + timedelta(days=offset)
        table = generate_day(day, rows)
        if day == bad:
            index = table.schema.get_field_index("user_tenure_days")
            table = table.set_column(index, "user_tenure_days", pa.nulls(rows, pa.float64()))
        write_partition(table, dataset, day)
    return dataclasses.replace(loaded, spec=spec)


def run_day(loaded, day: date, run_id: str) -> dict:
    """What the DAG's tasks do for one run, as of the end of ``day``."""
    from retrain.pipeline import gating_stage
    from retrain.pipeline.data_stages import check_freshness, validate_data
    from retrain.pipeline.training_stage import train_candidate

    as_of = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    snapshot = check_freshness(loaded, as_of)
    try:
        validation = validate_data(loaded, snapshot)
    except DataContractError as error:
        return {"blocked": str(error), "error": error}
    run = RunInfo(loaded.spec.dag_id, run_id, 1, as_of)
    trained = train_candidate(loaded, snapshot, run, validation)
    evaluation = gating_stage.evaluate(loaded, snapshot, trained)
    decision = gating_stage.gate(loaded, evaluation, trained)
    if decision["promote"]:
        outcome = gating_stage.promote(loaded, trained, evaluation, decision, actor=run_id)
    else:
        outcome = gating_stage.reject(loaded, trained, evaluation, decision)
    return {"snapshot": snapshot, "trained": trained, "evaluation": evaluation, "decision": decision, **outcome}
