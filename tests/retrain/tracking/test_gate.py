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
