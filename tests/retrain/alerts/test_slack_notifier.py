"""One BaseNotifier for approval requests, task failures and missed deadlines, delivered to the Slack stand-in
or, when the spec lists only ``log``, to the task log."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
from retrain.orchestration.slack_notifier import RetrainSlackNotifier

from tests.retrain.alerts.test_deadline import _scheduler_context, _with_deadline
from tests.support.slack_standin import SlackStandIn


def _miss_deadline(dag) -> None:
    """Exactly what the triggerer does with the DAG's DeadlineAlert: CallbackTrigger imports the path and
    awaits it with the kwargs and the context."""
    from airflow.triggers.callback import CallbackTrigger

    [alert] = dag.deadline
    serialized = alert.callback.serialize()
    trigger = CallbackTrigger(serialized["path"], {**serialized["kwargs"], "context": _scheduler_context()})

    async def run() -> list:
        return [event async for event in trigger.run()]

    events = asyncio.run(run())
    assert events[-1].payload["state"] == "success", events[-1].payload


def _failure_context(params) -> dict:
    return {
        "ti": SimpleNamespace(dag_id="retrain_churn", task_id="train", run_id="manual__1", try_number=4, map_index=-1),
        "params": params,
        "run_id": "manual__1",
        "exception": RuntimeError("CUDA error: device-side assert"),
    }


def _request_approval(dag) -> None:
    """The approval task's notifier, called the way the task calls it when it asks for a decision."""
    task = dag.get_task("approve_promotion")
    task.why = "the run was triggered with promote=approval"
    xcoms = {
        "evaluate": {"challenger_version": "7", "champion_version": "6"},
        "gate": {"promote": True, "checks": [{"head": "atc", "metric": "roc_auc", "rule": "min", "candidate": 0.71,
                                              "limit": 0.6, "passed": True}]},
        "train": {"run_id": "abc", "experiment_id": "3"},
    }
    ti = SimpleNamespace(dag_id=dag.dag_id, task_id=task.task_id, run_id="manual__2026", map_index=-1,
                         xcom_pull=lambda task_ids: xcoms.get(task_ids))
    [notifier] = task.notifiers
    notifier({"ti": ti, "task_instance": ti, "task": task, "run_id": "manual__2026", "dag": dag})


def test_the_deadline_alert_runs_the_notifier_on_the_triggerer(slack_connection: SlackStandIn) -> None:
    from retrain.orchestration.dag_factory import build_dag

    _miss_deadline(build_dag(_with_deadline(45)))
    [message] = slack_connection.messages
    assert message.channel == "#esmm" and "Deadline missed: ecommerce_esmm" in message.text


def test_failure_notifier_posts_the_failed_task(slack_connection: SlackStandIn) -> None:
    RetrainSlackNotifier("failure")(_failure_context({"model_name": "churn", "slack_channel": "#churn"}))
    [message] = slack_connection.messages
    assert message.channel == "#churn"
    assert "train" in message.text and "CUDA error" in message.text


def test_approval_request_links_the_required_action_page(slack_connection: SlackStandIn, monkeypatch) -> None:
    from retrain.config import load_spec
    from retrain.orchestration.dag_factory import build_dag

    from tests.retrain.alerts.test_deadline import SPEC

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")
    _request_approval(build_dag(load_spec(SPEC)))
    [message] = slack_connection.messages
    assert message.channel == "#ml-alerts"
    assert "Approval needed: promote ecommerce_esmm version 7 to champion?" in message.text
    page = "http://airflow.example:8080/dags/retrain_ecommerce_esmm/runs/manual__2026/tasks/approve_promotion/required_actions"
    assert page in message.text and page in str(message.blocks)
    assert "atc.roc_auc min: 0.7100 (limit 0.6000) ok" in str(message.blocks)
    assert "promote=approval" in message.text


def test_a_spec_listing_only_the_log_sends_deadlines_failures_and_approvals_to_the_task_log(
    slack_connection: SlackStandIn, caplog, monkeypatch
) -> None:
    """The factory hands the spec's notifiers to every Airflow-side alert, as it hands the channel."""
    from retrain.orchestration.dag_factory import build_dag

    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack")  # the deployment's default; the spec overrides it
    dag = build_dag(_with_deadline(45, notifiers=["log"]))
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        _miss_deadline(dag)
        params = {name: dag.params[name] for name in dag.params}
        failed = dag.get_task("train").on_failure_callback  # what the task runner calls after the last try
        for callback in failed if isinstance(failed, list) else [failed]:
            callback(_failure_context({**params, "notifiers": ["slack"]}))  # a run's conf cannot re-route it
        _request_approval(dag)
    assert slack_connection.messages == []
    for text in ("alert for #esmm:\nDeadline missed: ecommerce_esmm", "alert for #esmm:\nTask failed",
                 "alert for #esmm:\nApproval needed: promote ecommerce_esmm version 7"):
        assert text in caplog.text, text


@pytest.mark.parametrize("kind", ["tuning", "scoring", "landing"])
def test_tuning_scoring_and_landing_failures_go_where_the_spec_says_whatever_the_runs_conf(
    slack_connection: SlackStandIn, caplog, monkeypatch, tmp_path, kind
) -> None:
    """These DAGs bind the spec's channel and notifiers into their failure callback like model DAGs: a run's conf
    naming another channel or notifier re-routes nothing."""
    import yaml
    from retrain.orchestration.landing_dags import build_landing_dags
    from retrain.orchestration.scoring_dags import build_scoring_dags
    from retrain.orchestration.tuning_dag import build_all_tuning

    from tests.retrain.orchestration.test_tuning_dag import DEMO_SPEC

    monkeypatch.setenv("RETRAIN_NOTIFIERS", "slack")  # the deployment's default; the spec lists only the log
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["alerts"] = {**spec.get("alerts", {}), "slack_channel": "#tune", "notifiers": ["log"]}
    (tmp_path / "dwell.yaml").write_text(yaml.safe_dump(spec))
    builders = {"tuning": build_all_tuning, "scoring": build_scoring_dags, "landing": build_landing_dags}
    [dag] = builders[kind](tmp_path).values()
    assert not {"notifiers", "slack_channel"} & set(dag.params)  # not trigger-form fields a run could set
    failed = dag.tasks[0].on_failure_callback
    run_params = {"model_name": spec["name"], "slack_channel": "#elsewhere", "notifiers": ["slack"]}
    with caplog.at_level(logging.WARNING, logger="retrain.alerts.notifiers"):
        for callback in failed if isinstance(failed, list) else [failed]:
            callback(_failure_context(run_params))
    assert slack_connection.messages == []
    assert "alert for #tune:\nTask failed" in caplog.text
