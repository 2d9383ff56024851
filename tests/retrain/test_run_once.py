"""`retrain run`: the conf it passes, and a run that did nothing is never reported as green."""

from __future__ import annotations

from datetime import date

from retrain.cli import build_parser
from retrain.run_once import did_nothing, run_conf


def test_a_past_date_never_waits_unless_asked() -> None:
    assert run_conf(date(2013, 6, 10), None) == {"as_of": "2013-06-10", "wait_minutes": 0.0}
    assert run_conf(date(2013, 6, 10), 15) == {"as_of": "2013-06-10", "wait_minutes": 15}
    assert run_conf(None, None) == {}
    assert run_conf(None, None, promote="approval", epochs=1) == {"promote": "approval", "epochs": 1}


def test_a_run_that_did_nothing_says_so() -> None:
    assert "no task ran" in did_nothing({})
    skipped = {"check_freshness": "skipped", "train": "skipped", "notify": "skipped"}
    assert "check_freshness skipped" in did_nothing(skipped)
    assert did_nothing({"check_freshness": "success", "train": "success", "promote": "skipped"}) is None
    assert did_nothing({"check_freshness": "failed", "train": "upstream_failed"}) is None  # failed visibly


def test_the_cli_parses_run() -> None:
    args = build_parser().parse_args(["run", "churn_risk", "--as-of", "2013-06-10", "--wait-minutes", "5"])
    assert args.model == "churn_risk" and args.as_of == date(2013, 6, 10) and args.wait_minutes == 5


def test_a_segment_run_that_trained_is_not_reported_as_doing_nothing() -> None:
    states = {"check_freshness": "success", "validate_data": "success", "plan_chunks": "success",
              "train_chunk": "success", "report": "success"}
    assert did_nothing(states) is None
    assert "check_freshness skipped" in did_nothing({**states, "check_freshness": "skipped",
                                                     "train_chunk": "skipped", "report": "skipped"})
