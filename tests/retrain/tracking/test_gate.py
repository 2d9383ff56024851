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


def test_nan_metric_never_passes():
    decision = decide(GATE, HEADS, {"atc": {"roc_auc": float("nan")}, "dwell": {"rmse": 1.0}}, champion=None)
    assert not decision.promote


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
