"""The missed-deadline alert: the DAG's DeadlineAlert from the spec, and its callbacks posting to the stand-in."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from retrain.alerts.deadline import deadline_alert, deadline_missed_callback
from retrain.config import LoadedSpec, load_spec

from tests.retrain.alerts.helpers import with_alerts
from tests.support.slack_standin import SlackStandIn

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_esmm.yaml"


def _with_deadline(minutes: float | None, **alerts) -> LoadedSpec:
    return with_alerts(load_spec(SPEC), deadline_minutes=minutes, slack_channel="#esmm", **alerts)


def test_deadline_alert_counts_from_queued_and_calls_back_the_given_callback() -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference
    from retrain.orchestration.slack_notifier import RetrainSlackNotifier

    alert = deadline_alert("churn", "#churn", 90, callback=RetrainSlackNotifier, kind="deadline")
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(minutes=90)
    assert isinstance(alert.callback, AsyncCallback)  # runs on the triggerer, not in an executor slot
    assert alert.callback.serialize() == {
        "path": "retrain.orchestration.slack_notifier.RetrainSlackNotifier",
        "kwargs": {"kind": "deadline", "model_name": "churn", "slack_channel": "#churn", "deadline_minutes": 90.0},
    }


def test_no_deadline_without_deadline_minutes() -> None:
    assert deadline_alert("churn", "#c", None, callback=deadline_missed_callback) is None


def test_the_factory_dag_carries_the_spec_deadline() -> None:
    from retrain.orchestration.dag_factory import build_dag

    dag = build_dag(_with_deadline(45))
    [alert] = dag.deadline
    assert alert.interval == timedelta(minutes=45)
    assert alert.callback.kwargs == {"kind": "deadline", "model_name": "ecommerce_esmm", "slack_channel": "#esmm",
                                     "deadline_minutes": 45.0, "notifiers": None}
    assert build_dag(_with_deadline(45, notifiers=["log"])).deadline[0].callback.kwargs["notifiers"] == ["log"]
    assert alert.callback.serialize()["path"] == "retrain.orchestration.slack_notifier.RetrainSlackNotifier"
    assert not build_dag(_with_deadline(None)).deadline


def test_the_dag_with_a_deadline_serializes() -> None:
    from airflow.serialization.serialized_objects import DagSerialization
    from retrain.orchestration.dag_factory import build_dag

    dag = build_dag(_with_deadline(45))
    restored = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    assert restored.deadline is not None


def _scheduler_context() -> dict:
    """What Deadline.handle_miss attaches (a DAGRunResponse dumped to JSON, and the deadline)."""
    return {
        "dag_run": {
            "dag_run_id": "scheduled__2026-11-22T03:00:00+00:00",
            "dag_id": "retrain_churn",
            "queued_at": "2026-11-22T03:00:04.120000Z",
            "state": "running",
            "run_type": "scheduled",
        },
        "deadline": {"id": "0199", "deadline_time": "2026-11-22T04:30:04.120000Z"},
    }


def test_callback_posts_the_missed_deadline(slack_connection: SlackStandIn) -> None:
    deadline_missed_callback(context=_scheduler_context(), model_name="churn", slack_channel="#churn",
                             deadline_minutes=90.0)
    [message] = slack_connection.messages
    assert message.channel == "#churn"
    assert message.blocks[0]["text"]["text"] == "Deadline missed: churn"
    for part in ("scheduled__2026-11-22T03:00:00+00:00", "90 min", "2026-11-22T04:30:04", "running"):
        assert part in message.text, part
    assert "/dags/retrain_churn/runs/scheduled__2026-11-22T03%3A00%3A00%2B00%3A00" in str(message.blocks)


@pytest.mark.parametrize("context", [None, {}, {"dag_run": "oops"}], ids=["none", "empty", "garbage"])
def test_callback_never_raises(slack_connection: SlackStandIn, context) -> None:
    deadline_missed_callback(context=context, model_name="churn", slack_channel=None, deadline_minutes=None)
    [message] = slack_connection.messages
    assert message.channel == "#ml-alerts" and "Deadline missed" in message.text


def test_callback_accepts_the_context_the_way_airflow_calls_it() -> None:
    from airflow.sdk._shared.module_loading import accepts_context

    assert accepts_context(deadline_missed_callback)


def test_callback_sends_to_the_spec_notifiers(slack_connection: SlackStandIn, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        deadline_missed_callback(context=_scheduler_context(), model_name="churn", slack_channel="#churn",
                                 deadline_minutes=90.0, notifiers=["log"])
    assert slack_connection.messages == []
    assert "alert for #churn:\nDeadline missed: churn run scheduled__2026-11-22T03:00:00+00:00" in caplog.text
