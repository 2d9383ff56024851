"""The plain-text fallback is mrkdwn to Slack too: text from errors or data must not ping or link anyone."""

from __future__ import annotations

from retrain.alerts import task_failure_callback
from retrain.alerts.run_messages import decision_message

from tests.support.slack_standin import SlackStandIn

HOSTILE = "<!channel> wake up <https://evil.example/login|open the MLflow run> & <@U123>"


class _TaskInstance:
    dag_id = "retrain_churn"
    task_id = "train"
    run_id = "manual__1"
    try_number = 4
    map_index = -1
    log_url = "http://localhost:8080/dags/retrain_churn/runs/manual__1/tasks/train?try_number=4&map_index=-1"


def _assert_inert(text: str) -> None:
    for raw in ("<!channel>", "<https://evil.example", "<@U123>"):
        assert raw not in text, f"{raw!r} goes out raw in the fallback text"
    assert "&lt;!channel&gt;" in text and "&amp;" in text


def test_failure_alert_fallback_text_is_escaped(slack_connection: SlackStandIn) -> None:
    ti = _TaskInstance()
    task_failure_callback({"ti": ti, "task_instance": ti, "run_id": ti.run_id,
                           "params": {"model_name": "churn", "slack_channel": "#a"},
                           "exception": RuntimeError(HOSTILE)})
    [message] = slack_connection.messages
    _assert_inert(message.text)
    assert "&lt;!channel&gt;" in str(message.blocks)  # the blocks were escaped already; now both agree


def test_decision_fallback_text_is_escaped() -> None:
    alert = decision_message(model_name="churn", run_id="manual__1",
                             outcome={"promoted": False, "reasons": [HOSTILE]}, decision={"reasons": [HOSTILE]})
    _assert_inert(alert.text)
