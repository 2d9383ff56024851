"""The gate's evaluation as a new user's data meets it: scores that say more about the data than the model."""

from __future__ import annotations

from datetime import date, timedelta

from tests.support.daily_runs import small_daily_model

FIRST = date(2026, 6, 1)


def test_a_score_too_good_to_be_true_is_said_beside_the_decision(tmp_path, monkeypatch):
    """A feature that carries the label (a refund flag set after the purchase, a churn date): the candidate scores
    a perfect roc_auc and would be promoted without a word. It still may be (some problems are easy), but the
    run's summary, Slack note and MLflow run say what to check."""
    import dataclasses

    import pyarrow as pa
    from retrain.data.landing import write_partition
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store
    from retrain.tracking.tags import EVALUATION_NOTE
    from retrain.training.metrics import too_good_to_be_true
    from retrain_demo.data import generate_day

    from tests.support.daily_runs import run_day

    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=2, rows=1500)
    dataset = tmp_path / "data" / loaded.spec.data.location
    for offset in range(2):
        day = generate_day(FIRST + timedelta(days=offset), 1500)
        flags = pa.array([str(v) for v in day.column("click").to_pylist()], pa.string())
        write_partition(day.append_column("clicked_flag", flags),
                        dataset, FIRST + timedelta(days=offset))
    features = loaded.spec.features
    leaky = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={
        "features": features.model_copy(update={"categorical": [*features.categorical, "clicked_flag"]}),
        "training": loaded.spec.training.model_copy(update={"epochs": 3})}))

    result = run_day(leaky, FIRST + timedelta(days=1), "manual__leak")
    assert result["evaluation"]["candidate"]["click"]["roc_auc"] == 1.0
    [note] = result["evaluation"]["notes"]
    assert note.startswith("Too good to be true: head 'click' scores roc_auc=1.0000 on the holdout") and "carr" in note
    run = mlflow_store.connect(get_settings()).get_run(result["trained"]["run_id"])
    assert run.data.tags[EVALUATION_NOTE] == note

    assert too_good_to_be_true("regression", {"r2": 0.9995, "rmse": 0.1}) == "r2=0.9995"
    assert too_good_to_be_true("binary", {"roc_auc": 0.97, "log_loss": 0.1}) is None
    assert too_good_to_be_true("binary", {"roc_auc": float("nan")}) is None
