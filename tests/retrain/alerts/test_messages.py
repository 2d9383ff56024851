"""Alert content, tested without Airflow or Slack."""

from __future__ import annotations

from types import SimpleNamespace

from retrain.alerts.messages import (
    DEFAULT_CHANNEL,
    FailureReport,
    escape_mrkdwn,
    failure_channel,
    failure_report_from_context,
    format_error,
    format_failure_blocks,
    format_failure_text,
    truncate,
)
from retrain.errors import DataContractError


def _ti(**overrides):
    values = dict(
        dag_id="retrain_churn",
        task_id="train",
        run_id="scheduled__2024-05-01T00:00:00+00:00",
        try_number=4,
        map_index=-1,
        log_url="http://airflow.example/dags/retrain_churn/runs/x/tasks/train?try_number=4",
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def test_a_timed_out_task_says_which_setting_bounds_it() -> None:
    from airflow.sdk.exceptions import AirflowTaskTimeout

    text = format_error(AirflowTaskTimeout("Timeout, PID: 4242"))
    assert text.startswith("AirflowTaskTimeout: Timeout, PID: 4242")
    assert "RETRAIN_TASK_TIMEOUT_MINUTES" in text and "RETRAIN_TRAIN_TIMEOUT_MINUTES" in text


def test_format_error_keeps_type_and_first_line_only() -> None:
    err = ValueError("bad value in column 'age'\nTraceback detail that should not appear")
    assert format_error(err) == "ValueError: bad value in column 'age'"
    assert format_error(RuntimeError()) == "RuntimeError"
    assert format_error("Task was killed externally\nmore") == "Task was killed externally"
    assert "unknown error" in format_error(None)


def test_format_error_truncates_to_the_limit() -> None:
    text = format_error(RuntimeError("x" * 2000))
    assert len(text) == 500 and text.endswith("…") and text.startswith("RuntimeError: xxx")
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 4) == "abc"


def test_report_from_a_full_context() -> None:
    context = {
        "ti": _ti(),
        "run_id": "ignored-when-ti-has-one",
        "params": {"model_name": "churn", "slack_channel": "#churn-alerts"},
        "exception": DataContractError("column 'age': 3 values out of range"),
    }
    report = failure_report_from_context(context)
    assert report == FailureReport(
        dag_id="retrain_churn",
        task_id="train",
        run_id="scheduled__2024-05-01T00:00:00+00:00",
        try_number=4,
        error="DataContractError: column 'age': 3 values out of range",
        model_name="churn",
        log_url="http://airflow.example/dags/retrain_churn/runs/x/tasks/train?try_number=4",
        map_index=None,
        deterministic=True,
    )
    assert failure_channel(context) == "#churn-alerts"


def test_report_from_a_partial_context_does_not_raise() -> None:
    for context in ({}, {"ti": None}, {"params": None}, None, {"ti": object(), "exception": 42}):
        report = failure_report_from_context(context)  # type: ignore[arg-type]
        assert report.dag_id == "unknown" and report.task_id == "unknown"
        format_failure_text(report)
        format_failure_blocks(report)
    assert failure_channel({}) == DEFAULT_CHANNEL
    assert failure_channel({"params": {"slack_channel": ""}}) == DEFAULT_CHANNEL


def test_log_url_is_built_when_ti_has_none() -> None:
    ti = _ti(log_url=None, run_id="manual run/1", map_index=2, try_number=1)
    report = failure_report_from_context({"ti": ti}, airflow_base_url="http://af:8080/")
    assert (
        report.log_url
        == "http://af:8080/dags/retrain_churn/runs/manual%20run/1/tasks/train/mapped/2?try_number=1"
    )
    assert report.map_index == 2
    assert failure_report_from_context({"ti": ti}).log_url is None


def test_model_name_falls_back_to_a_model_tag() -> None:
    dag = SimpleNamespace(dag_id="retrain_churn", tags={"retrain", "model:churn"})
    assert failure_report_from_context({"dag": dag, "params": {}}).model_name == "churn"
    assert failure_report_from_context({"dag": SimpleNamespace(tags=["retrain"])}).model_name is None


def test_try_number_falls_back_to_the_context() -> None:
    ti = _ti(try_number=None)
    assert failure_report_from_context({"ti": ti, "try_number": 2}).try_number == 2


def test_text_names_everything_a_reader_needs() -> None:
    report = failure_report_from_context(
        {"ti": _ti(), "params": {"model_name": "churn"}, "exception": KeyError("x")}
    )
    text = format_failure_text(report)
    for part in (
        "retrain_churn",
        "train",
        "scheduled__2024-05-01T00:00:00+00:00",
        "Try: 4",
        "KeyError: 'x'",
        "churn",
        "final attempt",
        report.log_url,
    ):
        assert part in text, part


def test_blocks_are_valid_block_kit_shapes() -> None:
    report = failure_report_from_context(
        {"ti": _ti(), "params": {"model_name": "churn"}, "exception": ValueError("a < b & c > d")}
    )
    blocks = format_failure_blocks(report)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert blocks[0]["text"]["type"] == "plain_text" and len(blocks[0]["text"]["text"]) <= 150
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[0] == "*Model*\nchurn"
    assert "*Try*\n4 (final attempt)" in fields
    assert "a &lt; b &amp; c &gt; d" in blocks[2]["text"]["text"]
    assert f"<{report.log_url}|View the task log>" in blocks[3]["elements"][0]["text"]


def test_blocks_respect_slack_limits_for_huge_values() -> None:
    report = FailureReport(
        dag_id="d" * 400, task_id="t" * 400, run_id="r" * 3000, try_number=1, error="e" * 500
    )
    blocks = format_failure_blocks(report)
    assert len(blocks[0]["text"]["text"]) <= 150
    assert all(len(f["text"]) <= 2000 for f in blocks[1]["fields"])
    assert len(blocks[3]["elements"][0]["text"]) <= 2000
    assert "No log link available" in blocks[3]["elements"][0]["text"]


def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn("<@U1> & <!channel>") == "&lt;@U1&gt; &amp; &lt;!channel&gt;"
