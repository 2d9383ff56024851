from retrain.config import GateSpec, HeadGate, HeadSpec, MetricBound
from retrain.tracking.gate import decide

HEADS = [HeadSpec(name="atc", label="a", kind="binary"), HeadSpec(name="dwell", label="d", kind="regression")]
GATE = GateSpec(
    heads={
        "atc": HeadGate(thresholds={"roc_auc": MetricBound(min=0.6)}, max_regression={"roc_auc": 0.01}),
        "dwell": HeadGate(thresholds={"rmse": MetricBound(max=5.0)}, max_regression={"rmse": 0.1}),
    }
)


def test_first_model_only_needs_thresholds():
    decision = decide(GATE, HEADS, {"atc": {"roc_auc": 0.7}, "dwell": {"rmse": 4.0}}, champion=None)
    assert decision.promote and [c.rule for c in decision.checks] == ["min", "max"]


def test_threshold_failure_names_head_metric_and_limit():
    decision = decide(GATE, HEADS, {"atc": {"roc_auc": 0.55}, "dwell": {"rmse": 4.0}}, champion=None)
    assert not decision.promote
    assert decision.reasons == ["atc.roc_auc: 0.5500 >= 0.6000 FAILED"]


def test_regression_against_champion_blocks_per_head():
    champion = {"atc": {"roc_auc": 0.75}, "dwell": {"rmse": 3.0}}
    # atc within its margin (0.745 >= 0.74), dwell worse by more than 0.1 (lower is better).
    decision = decide(GATE, HEADS, {"atc": {"roc_auc": 0.745}, "dwell": {"rmse": 3.2}}, champion, "4")
    assert not decision.promote
    failed = [c for c in decision.checks if not c.passed]
    assert [(c.head, c.metric, c.rule) for c in failed] == [("dwell", "rmse", "no_regression")]
    assert "vs champion 3.0000" in decision.reasons[0]
    assert decision.to_dict()["champion_version"] == "4"


def test_nan_metric_never_passes_and_says_what_the_holdout_lacked():
    decision = decide(GATE, HEADS, {"atc": {"roc_auc": float("nan")}, "dwell": {"rmse": 1.0}}, champion=None)
    assert not decision.promote
    assert decision.reasons == ["atc.roc_auc: undefined on the holdout rows (roc_auc needs both label classes "
                                "among them), so not >= 0.6000 FAILED"]


def test_bootstrap_interval_separates_a_real_improvement_from_noise():
    import numpy as np
    from retrain.tracking.gate import bootstrap_improvement

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    good = np.clip(y * 0.6 + rng.random(3000) * 0.5, 0, 1)
    weak = rng.random(3000)
    better = bootstrap_improvement("binary", "roc_auc", y, good, weak, samples=100, confidence=0.95)
    assert better["low"] > 0.2 and better["delta"] > better["low"]
    same = bootstrap_improvement("binary", "roc_auc", y, weak, weak, samples=100, confidence=0.95)
    assert same["low"] <= 0 <= same["high"]
    # Direction-aware: lower log loss is an improvement, so it comes out positive too.
    assert bootstrap_improvement("binary", "log_loss", y, good, weak, samples=50, confidence=0.9)["low"] > 0


def test_significance_rule_blocks_an_insignificant_win():
    gate = GateSpec(heads={"atc": HeadGate(require_significant_improvement=["roc_auc"])})
    heads = [HEADS[0]]
    champion = {"atc": {"roc_auc": 0.70}}
    noisy = {"atc": {"roc_auc": {"delta": 0.004, "low": -0.01, "high": 0.02}}}
    decision = decide(gate, heads, {"atc": {"roc_auc": 0.704}}, champion, "3", significance=noisy)
    assert not decision.promote and "confidence-interval lower bound of -0.0100" in decision.reasons[0]
    clear = {"atc": {"roc_auc": {"delta": 0.05, "low": 0.03, "high": 0.07}}}
    assert decide(gate, heads, {"atc": {"roc_auc": 0.75}}, champion, "3", significance=clear).promote


def test_gate_refuses_to_compare_on_rows_the_champion_trained_on():
    champion = {"atc": {"roc_auc": 0.70}, "dwell": {"rmse": 3.0}}
    better = {"atc": {"roc_auc": 0.80}, "dwell": {"rmse": 2.0}}
    decision = decide(GATE, HEADS, better, champion, "4", champion_seen_holdout_rows=120,
                      seen_how="the champion was trained with the old position-based split")
    assert not decision.promote
    assert decision.reasons == [
        "holdout: 120 of its rows were in the champion's training data (the champion was trained with the old "
        "position-based split); the gate does not compare models on rows one of them trained on (must be 0) FAILED"
    ]
    assert decide(GATE, HEADS, better, champion, "4", champion_seen_holdout_rows=0).promote
    # no champion: nothing to compare, the count does not matter
    assert decide(GATE, HEADS, better, None, champion_seen_holdout_rows=5).promote


def test_a_rerun_identical_to_the_champion_does_not_move_it():
    scores = {"atc": {"roc_auc": 0.70, "log_loss": float("nan")}, "dwell": {"rmse": 3.0}}
    same = {h: dict(m) for h, m in scores.items()}
    decision = decide(GATE, HEADS, same, scores, "4", same_spec_and_data=True)
    assert not decision.promote
    assert "candidate is identical to the champion (version 4: same spec, same data, same holdout metrics)" in (
        decision.reasons[0])
    # same spec and data but different metrics is not identical; nor is new data with equal metrics
    assert decide(GATE, HEADS, {**same, "dwell": {"rmse": 2.9}}, scores, "4", same_spec_and_data=True).promote
    assert decide(GATE, HEADS, same, scores, "4", same_spec_and_data=False).promote


def test_min_improvement_per_metric_in_its_own_direction():
    gate = GateSpec(heads={
        "atc": HeadGate(min_improvement={"roc_auc": 0.01}),
        "dwell": HeadGate(min_improvement={"rmse": 0.1}),
    })
    champion = {"atc": {"roc_auc": 0.70}, "dwell": {"rmse": 3.0}}
    assert decide(gate, HEADS, {"atc": {"roc_auc": 0.715}, "dwell": {"rmse": 2.85}}, champion, "4").promote
    tie = decide(gate, HEADS, {"atc": {"roc_auc": 0.70}, "dwell": {"rmse": 2.85}}, champion, "4")
    assert not tie.promote
    assert tie.reasons == ["atc.roc_auc: candidate 0.7000 vs champion 0.7000 (must reach 0.7100) FAILED"]
    worse_rmse = decide(gate, HEADS, {"atc": {"roc_auc": 0.72}, "dwell": {"rmse": 2.95}}, champion, "4")
    assert [c.rule for c in worse_rmse.checks if not c.passed] == ["min_improvement"]
    # first model: nothing to improve on
    assert decide(gate, HEADS, {"atc": {"roc_auc": 0.5}, "dwell": {"rmse": 9.0}}, None).promote


def test_a_rare_class_with_too_few_holdout_rows_is_not_promoted_on():
    # card fraud at 0.2 %: 1,695 holdout rows hold 3 frauds, and an AUC of 0.80 on 3 positives is chance
    scores = {"atc": {"roc_auc": 0.80, "positive_rate": 3 / 1695}, "dwell": {"rmse": 4.0}}
    decision = decide(GATE, HEADS, scores, champion=None, holdout_rows=1695)
    assert not decision.promote
    assert decision.reasons == [
        "atc: the holdout holds 3 positive and 1,692 negative rows; its metrics are judged on at least 20 of each "
        "class (gate.min_holdout_examples), as fewer move too much by chance; a longer data.training_window_days "
        "or a larger data.holdout_fraction gives more FAILED"]
    enough = {"atc": {"roc_auc": 0.80, "positive_rate": 40 / 1695}, "dwell": {"rmse": 4.0}}
    assert decide(GATE, HEADS, enough, champion=None, holdout_rows=1695).promote
    lowered = GATE.model_copy(update={"min_holdout_examples": 3})
    assert decide(lowered, HEADS, scores, champion=None, holdout_rows=1695).promote  # the team's own call


def test_a_regression_head_needs_enough_holdout_rows_and_ungated_heads_are_not_counted():
    scores = {"atc": {"roc_auc": 0.8, "positive_rate": 0.5}, "dwell": {"rmse": 4.0}}
    decision = decide(GATE, HEADS, scores, champion=None, holdout_rows=12)
    assert [(c.head, c.passed) for c in decision.checks if c.rule == "min_holdout_examples"] == [
        ("atc", False), ("dwell", False)]
    assert "dwell: the holdout holds 12 rows; its metrics are judged on at least 20 rows" in decision.reasons[1]
    only_dwell = GateSpec(heads={"dwell": GATE.heads["dwell"]})
    assert [c.head for c in decide(only_dwell, HEADS, scores, None, holdout_rows=12).checks] == ["dwell", "dwell"]


def test_a_threshold_alone_still_keeps_a_worse_candidate_from_replacing_the_champion():
    """A spec that gates a metric with a threshold but names no max_regression gets margin 0: the README's
    "does not regress against the current champion" holds without the user knowing the field."""
    gate = GateSpec(heads={"atc": HeadGate(thresholds={"roc_auc": MetricBound(min=0.6)}),
                           "dwell": HeadGate(thresholds={"rmse": MetricBound(max=5.0)})})
    champion = {"atc": {"roc_auc": 0.80}, "dwell": {"rmse": 3.0}}
    worse = decide(gate, HEADS, {"atc": {"roc_auc": 0.65}, "dwell": {"rmse": 3.0}}, champion, "2")
    assert not worse.promote
    assert worse.reasons == ["atc.roc_auc: candidate 0.6500 vs champion 0.8000 (must not be worse than 0.8000; "
                             "no max_regression set for it, so no margin) FAILED"]
    as_good = decide(gate, HEADS, {"atc": {"roc_auc": 0.80}, "dwell": {"rmse": 2.9}}, champion, "2")
    assert as_good.promote
    assert [(c.head, c.rule) for c in as_good.checks] == [("atc", "min"), ("atc", "no_regression"),
                                                         ("dwell", "max"), ("dwell", "no_regression")]
    # a margin the spec names still wins over the default
    lenient = GateSpec(heads={"atc": HeadGate(thresholds={"roc_auc": MetricBound(min=0.6)},
                                              max_regression={"roc_auc": 0.2})})
    assert decide(lenient, HEADS, {"atc": {"roc_auc": 0.65}}, {"atc": {"roc_auc": 0.80}}, "2").promote


def test_a_spec_without_a_gate_still_never_lets_a_worse_candidate_replace_the_champion():
    """No gate.heads means no thresholds, not "anything goes": each head's loss on the shared holdout must be at
    least as good as the champion's, or the champion stays."""
    ungated = GateSpec()
    champion = {"atc": {"roc_auc": 0.80, "log_loss": 0.40}, "dwell": {"rmse": 3.0, "r2": 0.5}}
    first = decide(ungated, HEADS, {"atc": {"log_loss": 0.9}, "dwell": {"rmse": 9.0}}, champion=None)
    assert first.promote and first.reasons == [
        "nothing to check: the spec's gate sets no threshold and there is no champion yet"]
    worse = decide(ungated, HEADS, {"atc": {"roc_auc": 0.9, "log_loss": 0.45}, "dwell": {"rmse": 2.0, "r2": 0.6}},
                   champion, "3")
    assert not worse.promote
    assert worse.reasons == ["atc.log_loss: candidate 0.4500 vs champion 0.4000 (must not be worse than 0.4000; "
                             "the spec's gate names no head, so each head's loss may not get worse) FAILED"]
    better = decide(ungated, HEADS, {"atc": {"log_loss": 0.39}, "dwell": {"rmse": 2.9}}, champion, "3")
    assert better.promote
    assert [(c.head, c.metric, c.rule) for c in better.checks] == [("atc", "log_loss", "no_regression"),
                                                                  ("dwell", "rmse", "no_regression")]
    # naming any head in the gate replaces this default with the team's own rules
    assert decide(GateSpec(heads={"dwell": HeadGate()}), HEADS, {"atc": {"log_loss": 0.9}, "dwell": {"rmse": 2.0}},
                  champion, "3").promote


def test_a_first_model_that_clears_its_thresholds_does_not_claim_a_comparison_it_never_made():
    gate = GateSpec(heads={"atc": HeadGate(thresholds={"roc_auc": MetricBound(min=0.6)})})
    first = decide(gate, HEADS, {"atc": {"roc_auc": 0.7}}, champion=None)
    assert first.promote and first.reasons == ["all thresholds met (no champion yet to compare with)"]
    later = decide(gate, HEADS, {"atc": {"roc_auc": 0.7}}, {"atc": {"roc_auc": 0.65}}, "1")
    assert later.promote and later.reasons == ["all thresholds met and no regression against the champion"]


def test_a_head_judged_on_too_few_of_its_own_labels_is_not_promoted_on_even_without_a_gate():
    """With ``drop_unlabeled_rows`` a head is scored on the holdout rows that have its label (``labeled_rows``).
    A head none or few of them label was judged on nothing: a spec without a gate used to skip it silently (the
    champion's loss on no rows is NaN, so there was nothing to compare) and promote."""
    ungated = GateSpec()
    champion = {"atc": {"log_loss": 0.40}, "dwell": {"rmse": float("nan"), "labeled_rows": 0.0}}
    scores = {"atc": {"log_loss": 0.39}, "dwell": {"rmse": float("nan"), "labeled_rows": 0.0}}
    decision = decide(ungated, HEADS, scores, champion, "3", holdout_rows=900)
    assert not decision.promote
    assert decision.reasons == [
        "dwell: the holdout holds 0 of 900 rows with this head's label; its metrics are judged on at least 20 rows "
        "(gate.min_holdout_examples), as fewer move too much by chance; a longer data.training_window_days or a "
        "larger data.holdout_fraction gives more FAILED"]
    labeled = {"atc": {"log_loss": 0.39}, "dwell": {"rmse": 3.0, "labeled_rows": 450.0}}
    assert decide(ungated, HEADS, labeled, {**champion, "dwell": {"rmse": 3.1, "labeled_rows": 450.0}}, "3",
                  holdout_rows=900).promote
    assert decide(ungated, HEADS, {"atc": {"log_loss": 0.39}, "dwell": {"rmse": 3.0}}, None,
                  holdout_rows=5).promote  # every row labeled: an ungated spec keeps its old rule
