"""Cost and the origin of the hyperparameters in the run summary (Slack text) and the model card."""

from __future__ import annotations

from pathlib import Path

from retrain.config import load_spec
from retrain.pipeline.summary import render_summary
from retrain.tracking.model_card import render_model_card

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"
MANIFEST = {
    "data": {"dataset": "ecommerce/impressions", "partitions": ["dt=2026-03-01", "dt=2026-03-07"], "rows": 9000,
             "as_of": "2026-03-08", "fingerprint": "f" * 64},
    "code": {"git_commit": "a" * 40, "git_dirty": False},
    "environment": {"torch": "2.13.0", "python": "3.11.7"},
    "airflow": {"dag_id": "retrain_ecommerce_dwell_time", "run_id": "scheduled__1"},
    "hardware": {"device": "cpu"},
}
EVALUATION = {"candidate": {"dwell": {"rmse": 3.1}}, "champion": None, "holdout_rows": 1800}
DECISION = {"promote": True, "reasons": ["no champion yet"], "champion_version": None}


def test_the_summary_says_what_the_candidate_cost():
    loaded = load_spec(SPEC)
    trained = {"run_id": "r1", "cost_usd": 0.01234, "hyperparameters": {"source": "spec", "params": {}}}
    text = render_summary(loaded, "scheduled__1", trained, EVALUATION, {"promoted": True, "version": "2"})
    assert "Cost: $0.0123 to train this candidate (the spec's hyperparameters)." in text
    untracked = render_summary(loaded, "scheduled__1", {"run_id": "r1"}, EVALUATION, {"promoted": True, "version": "2"})
    assert "Cost" not in untracked  # a run from before cost accounting


def test_the_model_card_says_how_hyperparameters_were_chosen_and_the_cost():
    spec = load_spec(SPEC).spec
    tuned = {"source": "tuned", "params": {"learning_rate": 0.002, "hidden_units": [128, 64]}, "trials": 12,
             "metric": "dwell.rmse", "best_value": 2.95, "tuning_run_id": "t1"}
    card = render_model_card(spec, "3", MANIFEST, EVALUATION, DECISION, None, cost_usd=0.5, hyperparameters=tuned)
    assert "Training this version cost $0.5000" in card
    assert "**tuned** (Optuna TPE, median pruning) over" in card and "learning_rate" in card
    assert "12 trials, best dwell.rmse 2.95000 (tuning run `t1`)" in card
    assert "Used: hidden_units [128, 64], learning_rate 0.002" in card
    fixed = render_model_card(spec, "3", MANIFEST, EVALUATION, DECISION, None,
                              hyperparameters={"source": "spec", "params": {"learning_rate": 0.003}})
    assert "Hyperparameters are **fixed** by the spec (its tuning has not won the gate yet)" in fixed


def test_the_model_card_says_which_label_value_means_1():
    spec = load_spec(SPEC).spec
    heads = [h.model_copy(update={"positive": "yes"}) if h.kind == "binary" else h for h in spec.heads]
    card = render_model_card(spec.model_copy(update={"heads": heads}), "3", MANIFEST, EVALUATION, DECISION, None)
    assert "`click` (binary, label `click`, 1 where it is `yes`)" in card
    assert "`dwell` (regression, label `dwell_seconds`)" in card
