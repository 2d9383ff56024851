"""A label with more than two values (a ticket's priority, a plan tier, a species), as a new user's table holds it:
text, a few rows not labeled yet, a nullable integer feature. A ``multiclass`` head trains on it, is judged on
log_loss, accuracy and macro F1, is compared with its champion, serves its likeliest class with a probability per
class, and batch scoring lands both. A value outside the head's classes blocks the run, naming the column."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from retrain.config import load_spec
from retrain.data.landing import write_partition

from tests.support.daily_runs import run_day
from tests.support.mlflow_db import isolated_product_state

NAME = "ticket_priority"
CLASSES = ["low", "medium", "high"]
FIRST = date(2021, 3, 1)  # years in the past
ROWS = 600


def _day(day: date, rng: np.random.Generator, label_values=CLASSES) -> pa.Table:
    words = rng.integers(5, 400, ROWS)
    channel = rng.choice(["email", "phone", "chat"], ROWS)
    urgency = words / 400 + (channel == "phone") * 0.5 + rng.normal(0, 0.1, ROWS)
    priority = np.asarray(label_values, dtype=object)[np.digitize(urgency, [0.45, 0.8])]
    priority[rng.random(ROWS) < 0.05] = None  # not triaged yet
    customers = pd.array(rng.integers(1, 30, ROWS), dtype="Int64")
    customers[rng.random(ROWS) < 0.1] = pd.NA
    return pa.Table.from_pandas(pd.DataFrame({
        "ticket_id": [f"{day}-{i}" for i in range(ROWS)], "words": words, "open_tickets": customers,
        "channel": channel, "priority": pd.array(priority, dtype="string"),
    }), preserve_index=False)


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    isolated_product_state(tmp_path, monkeypatch)
    rng = np.random.default_rng(11)
    for offset in range(3):
        write_partition(_day(FIRST + timedelta(days=offset), rng), tmp_path / "data" / "tickets", FIRST + timedelta(days=offset))
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "tickets.yaml").write_text(yaml.safe_dump({"name": "tickets", "expectations": [
        {"expect": "column_values_to_be_unique", "column": "ticket_id"}]}))
    spec = {
        "name": NAME, "owner": "support-ml",
        "data": {"location": "tickets", "training_window_days": 2, "drop_unlabeled_rows": True,
                 "holdout_key": ["ticket_id"], "freshness": {"max_age_hours": 48, "min_rows": 100}},
        "features": {"numeric": ["words", "open_tickets"], "categorical": ["channel"]},
        "heads": [{"name": "priority", "label": "priority", "kind": "multiclass", "classes": CLASSES}],
        "architecture": {"type": "tabular_mlp", "hidden_units": [32]},
        "training": {"epochs": 8, "batch_size": 64, "learning_rate": 0.01, "device": "cpu"},
        "validation": {"suite": str(tmp_path / "suites" / "tickets.yaml")},
        "gate": {"heads": {"priority": {"thresholds": {"macro_f1": {"min": 0.5}},
                                        "max_regression": {"log_loss": 0.5},
                                        "require_significant_improvement": ["macro_f1"]}}},
        "evaluation": {"slices": ["channel"]},
        "scoring": {"output": "predictions/tickets", "passthrough_columns": ["ticket_id"]},
    }
    (tmp_path / f"{NAME}.yaml").write_text(yaml.safe_dump(spec))
    return load_spec(tmp_path / f"{NAME}.yaml")


def test_a_multiclass_head_trains_gates_serves_and_scores(loaded, tmp_path):
    import dataclasses

    import mlflow
    from retrain.errors import UnusableModelError
    from retrain.pipeline.scoring_stage import score_newest_partition

    first = run_day(loaded, FIRST + timedelta(days=1), "manual__first")
    scores = first["evaluation"]["candidate"]["priority"]
    assert set(scores) == {"log_loss", "accuracy", "macro_f1"}  # on the labeled rows: the others were dropped
    assert scores["macro_f1"] > 0.6 and scores["accuracy"] > 0.6, scores  # the signal is learnt
    assert first["decision"]["promote"], first["decision"]
    run = mlflow.MlflowClient().get_run(first["trained"]["run_id"])
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")]
    assert "plots/priority.png" in artifacts  # the confusion matrix
    card = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/model_card.md")
    assert "`priority` (multiclass, label `priority`, classes `low`, `medium`, `high`)" in card

    newest = pd.read_parquet(next((tmp_path / "data" / "tickets" / f"dt={FIRST + timedelta(days=2)}").glob("*.parquet")))
    served = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(newest)
    probabilities = [f"priority_probability_{c}" for c in CLASSES]
    assert list(served.columns) == ["priority", *probabilities]
    assert np.allclose(served[probabilities].sum(axis=1), 1.0, atol=1e-5)
    assert (served["priority"] == np.asarray(CLASSES)[served[probabilities].to_numpy().argmax(axis=1)]).all()
    labeled = newest["priority"].notna()
    assert (served["priority"][labeled] == newest["priority"][labeled]).mean() > 0.6

    second = run_day(loaded, FIRST + timedelta(days=2), "manual__second")  # judged against the champion
    champion = second["evaluation"]["champion"]["priority"]
    assert second["evaluation"]["champion_version"] == "1" and set(champion) >= {"log_loss", "macro_f1"}
    compared = [c for c in second["decision"]["checks"] if c["rule"] == "no_regression"]
    interval = second["evaluation"]["significance"]["priority"]["macro_f1"]  # bootstrap on the shared rows
    assert interval["low"] <= interval["high"] and np.isfinite([interval["low"], interval["high"]]).all()
    by_channel = second["evaluation"]["slices"]["channel"]
    assert set(by_channel) == {"chat", "email", "phone"} and "macro_f1" in by_channel["phone"]["priority"]
    assert {c["metric"] for c in compared} == {"macro_f1", "log_loss"}  # the threshold metric, and the named one

    landed = score_newest_partition(loaded)
    predictions = pd.read_parquet(landed["predictions"])
    assert list(predictions.columns) == ["ticket_id", "priority_prediction", *probabilities]
    assert set(predictions["priority_prediction"]) <= set(CLASSES) and len(predictions) == ROWS

    # A class added to the spec: the champion predicts no probability for it, so it cannot be judged on the same
    # terms. It is set aside as an unusable champion is (said, alerted; the candidate faces the thresholds alone).
    head = loaded.spec.heads[0].model_copy(update={"classes": [*CLASSES, "urgent"]})
    widened = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"heads": [head]}))
    champion_now = mlflow.MlflowClient().get_model_version_by_alias(NAME, "champion").version
    with pytest.raises(UnusableModelError, match=rf"version {champion_now} predicts no probability for the classes "
                                                 r"\['urgent'\]"):
        score_newest_partition(widened)  # nothing lands without the new class's probabilities
    third = run_day(widened, FIRST + timedelta(days=2), "manual__widened")
    assert "predicts no probability for the classes ['urgent'] of head 'priority'" in third["evaluation"][
        "champion_unusable"]
    assert not [c for c in third["decision"]["checks"] if c["rule"] == "no_regression"]


def test_a_label_outside_the_classes_blocks_the_run_naming_column_and_value(loaded, tmp_path):
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    day = FIRST + timedelta(days=3)
    write_partition(_day(day, np.random.default_rng(3), ["low", "medium", "urgent"]), tmp_path / "data" / "tickets", day)
    blocked = run_day(loaded, day, "manual__urgent")
    assert "retrain_label_in_classes" in blocked["blocked"]
    assert "label column 'priority' holds" in blocked["blocked"] and "'urgent'" in blocked["blocked"]
    assert mlflow_store.champion_version(mlflow_store.connect(get_settings()), NAME) is None  # nothing trained, nothing moved

