"""When a person is asked before the champion moves, what they see, and what is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from retrain.pipeline.approval import actor_for, approval_body, approval_record, borderline_reasons, route

CLEAR = {"promote": True, "checks": [
    {"head": "atc", "metric": "roc_auc", "rule": "min", "candidate": 0.72, "limit": 0.6, "passed": True},
    {"head": "atc", "metric": "roc_auc", "rule": "no_regression", "candidate": 0.72, "limit": 0.69,
     "champion": 0.70, "passed": True},
]}
NARROW = {"promote": True, "checks": [  # worse than the champion, within the 0.02 margin
    {"head": "atc", "metric": "roc_auc", "rule": "no_regression", "candidate": 0.695, "limit": 0.68,
     "champion": 0.70, "passed": True},
    {"head": "dwell", "metric": "rmse", "rule": "no_regression", "candidate": 10.2, "limit": 10.5,
     "champion": 10.0, "passed": True},
]}
FAILED = {"promote": False, "checks": [
    {"head": "atc", "metric": "roc_auc", "rule": "min", "candidate": 0.5, "limit": 0.6, "passed": False}]}


@pytest.mark.parametrize(("decision", "mode", "spec_approval", "expected"), [
    (CLEAR, "auto", "never", "promote"),
    (CLEAR, "auto", "always", "approve_promotion"),
    (CLEAR, "auto", "borderline", "promote"),
    (NARROW, "auto", "borderline", "approve_promotion"),
    (NARROW, "auto", "never", "promote"),
    (CLEAR, "approval", "never", "approve_promotion"),
    (CLEAR, "never", "always", "reject"),
    (FAILED, "approval", "always", "reject"),  # nobody is asked to overrule the gate
])
def test_route(decision, mode, spec_approval, expected) -> None:
    assert route(decision, mode, spec_approval) == expected


def test_borderline_names_the_narrow_metrics_in_both_directions() -> None:
    reasons = borderline_reasons(NARROW)
    assert len(reasons) == 2 and "atc.roc_auc" in reasons[0] and "dwell.rmse" in reasons[1]
    assert borderline_reasons(CLEAR) == []
    insignificant = {"promote": True, "checks": [{"head": "atc", "metric": "roc_auc", "rule": "significant_improvement",
                                                  "candidate": -0.001, "limit": 0.0, "champion": 0.7, "passed": True}]}
    assert "not significant" in borderline_reasons(insignificant)[0]


def test_body_shows_candidate_against_champion_checks_and_links() -> None:
    evaluation = {"challenger_version": "4", "champion_version": "3", "holdout_rows": 800,
                  "candidate": {"atc": {"roc_auc": 0.72}}, "champion": {"atc": {"roc_auc": 0.70}}}
    body = approval_body("esmm", CLEAR, evaluation, "the spec asks", {"MLflow run": "http://m/r/1"}, 24)
    assert "| atc | roc_auc | 0.7200 | 0.7000 |" in body
    assert "atc.roc_auc no_regression: candidate 0.7200, limit 0.6900, champion 0.7000: passed" in body
    assert "[MLflow run](http://m/r/1)" in body and "24 h" in body and "version **4**" in body


def test_record_of_an_approval_and_of_a_timeout() -> None:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    record = approval_record({"chosen_options": ["Approve"], "responded_by_user": {"id": "7", "name": "alice"},
                              "responded_at": at, "params_input": {"reason": "lift looks real"}})
    assert record == {"decision": "approved", "by": "alice", "at": "2026-12-01T12:00:00+00:00",
                      "reason": "lift looks real"}
    assert actor_for(record, "airflow:x/y").startswith("alice (approved in the Airflow UI: lift looks real")
    timeout = approval_record({"chosen_options": ["Reject"], "responded_by_user": None, "responded_at": at})
    assert timeout["decision"] == "rejected" and "timeout" in timeout["by"] and timeout["reason"] == "timed out"
    assert actor_for(timeout, "airflow:x/y") == "airflow:x/y"


def test_a_nul_character_in_the_approvers_reason_is_dropped_before_it_reaches_the_registry():
    """The form's text goes into MLflow tags, which PostgreSQL refuses with a NUL in them."""
    record = approval_record({"chosen_options": ["Approve"], "responded_by_user": {"name": "ana"},
                              "params_input": {"reason": "looks\x00 fine"}})
    assert record["reason"] == "looks fine" and record["by"] == "ana"
