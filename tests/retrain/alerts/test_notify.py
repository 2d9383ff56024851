"""The notify stage: promotion and rejection summaries, and one digest for a fan-out run, posted to the
model's channel through the real Slack stand-in."""

from __future__ import annotations

import json

from retrain.config import LoadedSpec, load_spec
from retrain.pipeline.notify_stage import notify_outcome
from retrain.tracking.gate import decide

from tests.retrain.alerts.helpers import with_alerts
from tests.retrain.alerts.test_deadline import SPEC
from tests.support.slack_standin import SlackStandIn

TRAINED = {"run_id": "0123abcd", "experiment_id": "3", "model_uri": "models:/m-1"}
EVALUATION = {
    "candidate": {"atc": {"roc_auc": 0.71, "log_loss": 0.34}, "ctcvr": {"roc_auc": 0.75, "log_loss": 0.19}},
    "champion": {"atc": {"roc_auc": 0.70, "log_loss": 0.35}, "ctcvr": {"roc_auc": 0.74, "log_loss": 0.20}},
    "champion_version": "1",
    "challenger_version": "2",
    "significance": {},
}


def _loaded(channel: str = "#esmm-alerts") -> LoadedSpec:
    return with_alerts(load_spec(SPEC), slack_channel=channel)


def _gate(loaded: LoadedSpec) -> dict:
    """The gate task's decision on EVALUATION, as it travels to notify by XCom."""
    spec = loaded.spec
    return decide(spec.gate, spec.heads, EVALUATION["candidate"], EVALUATION["champion"], "1").to_dict()


def _blocks(message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def test_promotion_goes_to_the_model_channel_with_metrics_thresholds_and_the_new_champion(
    slack_connection: SlackStandIn, monkeypatch
) -> None:
    monkeypatch.setenv("RETRAIN_MLFLOW_UI_URL", "http://mlflow.example")
    outcome = {"promoted": True, "version": "2", "previous_champion": "1"}
    loaded = _loaded()
    rules = loaded.spec.gate.heads["atc"]
    floor, margin = rules.thresholds["roc_auc"].min, rules.max_regression["roc_auc"]
    text = notify_outcome(loaded, "manual__1", TRAINED, EVALUATION, outcome, _gate(loaded))
    [message] = slack_connection.messages
    assert message.channel == "#esmm-alerts"
    assert message.text == text and "PROMOTED" in text and "Champion is now version 2" in text
    blocks = _blocks(message)
    assert message.blocks[0]["text"]["text"] == "Promoted: ecommerce_esmm version 2 is the new champion"
    for part in (
        f"✅ atc.roc_auc: 0.7100 (threshold &gt;= {floor:.4f})",  # the gate's checks, as the gate task returned them
        f"✅ atc.roc_auc: 0.7100 vs champion 0.7000 (no regression: limit {0.70 - margin:.4f})",
        "ctcvr.roc_auc",
        "<http://mlflow.example/#/experiments/3/runs/0123abcd|MLflow run>",
        "<http://mlflow.example/#/models/ecommerce_esmm/versions/2|model version 2>",
        "/dags/retrain_ecommerce_esmm/runs/manual__1|Airflow run>",
    ):
        assert part in blocks, part


def test_rejection_carries_the_reasons(slack_connection: SlackStandIn) -> None:
    decision = {"promote": False, "champion_version": "1", "reasons": ["atc.roc_auc: 0.5500 >= 0.6000 FAILED"],
                "checks": [{"head": "atc", "metric": "roc_auc", "rule": "min", "candidate": 0.55, "limit": 0.6,
                            "passed": False, "champion": None}]}
    outcome = {"promoted": False, "version": "1", "reasons": decision["reasons"]}
    notify_outcome(_loaded(), "manual__2", TRAINED, EVALUATION, outcome, decision=decision)
    [message] = slack_connection.messages
    assert "REJECTED" in message.text
    blocks = _blocks(message)
    assert "Rejected: ecommerce_esmm candidate, champion stays at version 1" in blocks
    assert "Why it was rejected" in blocks and "atc.roc_auc: 0.5500 &gt;= 0.6000 FAILED" in blocks
    assert "❌ atc.roc_auc: 0.5500 (threshold &gt;= 0.6000)" in blocks


def test_a_list_of_segment_outcomes_sends_one_digest(slack_connection: SlackStandIn) -> None:
    outcomes = [{"segment": f"s{i}", "promoted": i % 2 == 0, "version": "1", "reasons": ["auc low"]} for i in range(500)]
    outcomes[3] = {"segment": "s3", "error": "ConnectionError: mlflow down", "task": "train"}
    text = notify_outcome(_loaded(), "manual__3", None, None, outcomes)
    [message] = slack_connection.messages
    assert message.channel == "#esmm-alerts"
    assert message.blocks[0]["text"]["text"] == "ecommerce_esmm: 500 segments — 1 failed, 249 rejected, 250 promoted"
    assert "`s3`: train: ConnectionError: mlflow down" in _blocks(message)
    assert text == message.text


def test_slack_down_never_fails_the_stage(slack_connection: SlackStandIn, outbox_file) -> None:
    slack_connection.fail_with_server_error(times=100)
    outcome = {"promoted": True, "version": "2", "previous_champion": "1"}
    text = notify_outcome(_loaded(), "manual__4", TRAINED, EVALUATION, outcome, _gate(_loaded()))
    assert "PROMOTED" in text
    queued = [json.loads(line) for line in outbox_file.read_text().splitlines()]
    assert [q["channel"] for q in queued] == ["#esmm-alerts"] and queued[0]["blocks"]


def test_notify_posts_the_decision_it_is_given_and_never_recomputes_it(slack_connection: SlackStandIn) -> None:
    given = {"promote": False, "checks": [], "reasons": ["given by the gate task"], "champion_version": "1"}
    outcome = {"promoted": False, "version": "1", "reasons": []}
    notify_outcome(_loaded(), "manual__5", TRAINED, EVALUATION, outcome, decision=given)
    blocks = _blocks(slack_connection.messages[0])
    assert "given by the gate task" in blocks and "no regression" not in blocks  # EVALUATION alone would pass


def test_a_malformed_stage_result_is_named() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="challenger_version"):
        notify_outcome(_loaded(), "manual__6", TRAINED, {"candidate": {}}, {"promoted": True, "version": "2"})


def test_the_data_contracts_warnings_are_in_the_summary(slack_connection: SlackStandIn) -> None:
    """A contract that passed with warnings (a feature null on every row, a new category) says so where the team
    reads the outcome, not only in the validate_data task's log."""
    outcome = {"promoted": False, "version": "1", "reasons": ["atc.roc_auc: regression"]}
    trained = {**TRAINED, "data_warnings": ["retrain_feature_has_values on wind: feature 'wind' is null in all 6,720 "
                                            "rows of the window"]}
    text = notify_outcome(_loaded(), "manual__6", trained, EVALUATION, outcome, _gate(_loaded()))
    [message] = slack_connection.messages
    assert "Data warning: retrain_feature_has_values on wind: feature 'wind' is null in all 6,720" in _blocks(message)
    assert "feature 'wind' is null" in text
