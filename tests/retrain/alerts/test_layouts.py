"""The Block Kit layouts, tested as plain data: contract failure, stale data, promotion or rejection,
missed deadline, fan-out digest, and the limits every message keeps."""

from __future__ import annotations

import json
from types import SimpleNamespace

from retrain.alerts.blockkit import (
    BLOCKS_PER_MESSAGE,
    FIELDS_PER_SECTION,
    bullet_section,
    fields,
    limit_blocks,
    link,
)
from retrain.alerts.data_messages import build_failure_message, contract_failure_message, stale_data_message
from retrain.alerts.deadline import deadline_missed_message
from retrain.alerts.messages import FailureReport, failure_report_from_context
from retrain.alerts.run_messages import decision_message, digest_message, segment_status
from retrain.errors import DataContractError, StaleDataError

REPORT = FailureReport(
    dag_id="retrain_churn",
    task_id="validate_data",
    run_id="scheduled__2026-11-22T03:00:00+00:00",
    try_number=1,
    error="DataContractError: Data contract 'churn' failed on partition crm dt=2026-11-21: …",
    model_name="churn",
    log_url="http://airflow.example/dags/retrain_churn/runs/x/tasks/validate_data?try_number=1",
    deterministic=True,
)

CONTRACT_ERROR = DataContractError(
    "Data contract 'churn' failed on partition crm dt=2026-11-15..dt=2026-11-21: expect_column_values_to_be_between "
    "on column 'tenure_days': 12 of 6000 rows (0.2%) outside [0, 4000]",
    failures=[
        {
            "expectation": "expect_column_values_to_be_between",
            "column": "tenure_days",
            "severity": "block",
            "observed": "12 of 6000 rows (0.2%) outside [0, 4000]; e.g. -3, 9000",
            "index": 0,
            "suite": "churn",
            "partition": "crm dt=2026-11-15..dt=2026-11-21",
        },
        {
            "expectation": "expect_column_values_to_not_be_null",
            "column": "plan",
            "severity": "block",
            "observed": "40 of 6000 rows (0.7%) are null",
            "index": 3,
            "suite": "churn",
            "partition": "crm dt=2026-11-15..dt=2026-11-21",
        },
    ],
)


def _all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _within_slack_limits(blocks) -> None:
    assert len(blocks) <= BLOCKS_PER_MESSAGE
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150 and block["text"]["type"] == "plain_text"
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= FIELDS_PER_SECTION
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


# -- data contract ------------------------------------------------------------------------------------------


def test_contract_failure_names_expectations_columns_and_partition() -> None:
    alert = contract_failure_message(REPORT, CONTRACT_ERROR)
    assert alert.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Data contract failed: churn", "emoji": True},
    }
    blocks = _all_text(alert.blocks)
    for part in (
        "expect_column_values_to_be_between",
        "`tenure_days`",
        "expect_column_values_to_not_be_null",
        "`plan`",
        "*Partition*\\ncrm dt=2026-11-15..dt=2026-11-21",
        "*Columns*\\ntenure_days, plan",
        "*Suite*\\nchurn",
        "2 blocking expectations failed",
        "12 of 6000 rows (0.2%) outside [0, 4000]",
        "View the task log",
        "Data Docs: not built for this run",
        "DataContractError: deterministic failure, not retried",
    ):
        assert part in blocks, part
    assert "Error: DataContractError: Data contract 'churn' failed" in alert.text
    for part in ("churn", "crm dt=2026-11-15..dt=2026-11-21", "tenure_days", "plan", "not retried", REPORT.log_url):
        assert part in alert.text, part
    _within_slack_limits(alert.blocks)


def test_contract_failure_links_data_docs_when_there_is_a_url() -> None:
    error = DataContractError("Data contract 'c' failed on partition p: x", failures=CONTRACT_ERROR.failures,
                              data_docs_url="http://docs.example/validations/run 1.html")
    alert = contract_failure_message(REPORT, error)
    assert "<http://docs.example/validations/run%201.html|Data Docs>" in _all_text(alert.blocks)
    assert "Data Docs: http://docs.example/validations/run 1.html" in alert.text
    assert "not built" not in _all_text(alert.blocks)


def test_contract_failure_without_structured_failures_reads_the_partition_from_the_message() -> None:
    error = DataContractError("Data contract 'churn' failed on partition crm dt=2026-11-21: something odd")
    alert = contract_failure_message(REPORT, error)
    assert "*Partition*\\ncrm dt=2026-11-21" in _all_text(alert.blocks)
    assert "*Error*" in _all_text(alert.blocks)


def test_contract_failure_with_hundreds_of_failures_stays_within_limits() -> None:
    failures = [
        {"expectation": f"expect_{i}", "column": f"col_{i}", "severity": "block", "observed": "x" * 400}
        for i in range(300)
    ]
    alert = contract_failure_message(REPORT, DataContractError("failed on partition p: …", failures=failures))
    _within_slack_limits(alert.blocks)
    assert "more" in _all_text(alert.blocks)
    assert "… and 290 more" in alert.text


def test_mrkdwn_in_observed_values_is_escaped() -> None:
    failures = [{"expectation": "e", "column": "c`x", "observed": "<!channel> & <@U1>"}]
    alert = contract_failure_message(REPORT, DataContractError("x", failures=failures))
    text = _all_text(alert.blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;@U1&gt;" in text
    assert "`c'x`" in text


# -- stale data ---------------------------------------------------------------------------------------------


def test_stale_data_shows_newest_partition_and_allowed_age() -> None:
    error = StaleDataError(
        "/data/crm/dt=2026-11-19: newest partition is 51.0 h old at 2026-11-22 03:00 UTC, more than the allowed 30 h",
        reason="too_old", dataset="/data/crm", newest_partition="2026-11-19", as_of="2026-11-22T03:00:00+00:00",
        age_hours=51.0, max_age_hours=30, min_rows=100,
    )
    alert = stale_data_message(REPORT, error)
    blocks = _all_text(alert.blocks)
    assert alert.blocks[0]["text"]["text"] == "Stale data: churn"
    for part in ("*Newest partition*\\n2026-11-19", "*Age*\\n51.0 h", "*Allowed age*\\n30 h",
                 "*Dataset*\\n/data/crm", "Newest partition is older than allowed"):
        assert part in blocks, part
    assert "Newest partition: 2026-11-19, age 51.0 h, allowed 30 h" in alert.text
    assert "not retried" in alert.text
    _within_slack_limits(alert.blocks)


def test_stale_data_without_any_partition() -> None:
    error = StaleDataError("no complete partition in the training window", reason="no_partition", max_age_hours=30)
    alert = stale_data_message(REPORT, error)
    assert "*Newest partition*\\nnone found" in _all_text(alert.blocks)
    assert "no complete partition in the training window" in alert.text


def test_stale_data_too_few_rows_shows_the_rows() -> None:
    error = StaleDataError("x", reason="too_few_rows", newest_partition="2026-11-21", age_hours=2.0,
                           max_age_hours=30, rows=50, min_rows=100)
    assert "*Rows*\\n50 (at least 100 required)" in _all_text(stale_data_message(REPORT, error).blocks)


def test_a_plain_stale_data_error_still_gets_its_layout() -> None:
    alert = stale_data_message(REPORT, StaleDataError("newest partition is 9 days old"))
    assert "*Age*\\nunknown" in _all_text(alert.blocks)
    assert "newest partition is 9 days old" in _all_text(alert.blocks)


def test_build_failure_message_picks_the_layout_from_the_exception() -> None:
    assert build_failure_message(REPORT, CONTRACT_ERROR).blocks[0]["text"]["text"].startswith("Data contract")
    assert build_failure_message(REPORT, StaleDataError("x")).blocks[0]["text"]["text"].startswith("Stale data")
    generic = build_failure_message(REPORT, ValueError("x"))
    assert generic.blocks[0]["text"]["text"].startswith("Task failed")
    assert build_failure_message(REPORT, "killed externally").blocks[0]["text"]["text"].startswith("Task failed")


# -- failure report: MLflow link from the train task's XCom -------------------------------------------------


class _TI(SimpleNamespace):
    def xcom_pull(self, task_ids=None, **_):
        return self.xcoms.get(task_ids)


def test_failure_report_links_the_mlflow_run_from_the_train_xcom(monkeypatch) -> None:
    monkeypatch.setenv("RETRAIN_MLFLOW_UI_URL", "http://mlflow.example")
    ti = _TI(dag_id="retrain_churn", task_id="evaluate", run_id="r1", try_number=4, map_index=-1, log_url=None,
             xcoms={"train": {"run_id": "abc123", "experiment_id": "7", "model_uri": "models:/m-1"}})
    report = failure_report_from_context({"ti": ti, "exception": ConnectionError("mlflow down")},
                                         airflow_base_url="http://airflow.example")
    assert report.mlflow_run_url == "http://mlflow.example/#/experiments/7/runs/abc123"
    alert = build_failure_message(report, ConnectionError("mlflow down"))
    assert "<http://mlflow.example/#/experiments/7/runs/abc123|MLflow run>" in alert.blocks[-1]["elements"][0]["text"]
    assert "MLflow run: http://mlflow.example/#/experiments/7/runs/abc123" in alert.text
    assert "View the task log" in alert.blocks[-1]["elements"][0]["text"]


def test_no_mlflow_link_before_train_returned_or_when_xcom_fails() -> None:
    ti = _TI(dag_id="d", task_id="train", run_id="r", try_number=4, map_index=-1, log_url=None, xcoms={})
    assert failure_report_from_context({"ti": ti}).mlflow_run_url is None

    class Broken(_TI):
        def xcom_pull(self, **_):
            raise RuntimeError("no supervisor")

    broken = Broken(dag_id="d", task_id="t", run_id="r", try_number=1, map_index=-1, log_url=None)
    assert failure_report_from_context({"ti": broken}).mlflow_run_url is None


# -- promotion decision -------------------------------------------------------------------------------------

DECISION = {
    "promote": True,
    "champion_version": "3",
    "reasons": ["all thresholds met and no regression against the champion"],
    "checks": [
        {"head": "churn", "metric": "roc_auc", "rule": "min", "candidate": 0.81, "limit": 0.7, "passed": True,
         "champion": None},
        {"head": "churn", "metric": "roc_auc", "rule": "no_regression", "candidate": 0.81, "limit": 0.79,
         "passed": True, "champion": 0.80},
    ],
}
EVALUATION = {
    "candidate": {"churn": {"roc_auc": 0.81, "log_loss": 0.30, "positive_rate": 0.1}},
    "champion": {"churn": {"roc_auc": 0.80, "log_loss": 0.31, "positive_rate": 0.1}},
    "champion_version": "3",
    "challenger_version": "4",
}


def test_promotion_shows_the_new_champion_metrics_and_thresholds() -> None:
    alert = decision_message(
        model_name="churn", run_id="r1", outcome={"promoted": True, "version": "4", "previous_champion": "3"},
        decision=DECISION, evaluation=EVALUATION, mlflow_run_url="http://mlflow/#/runs/1",
        model_version_url="http://mlflow/#/models/churn/versions/4", airflow_run_url="http://airflow/runs/r1",
    )
    blocks = _all_text(alert.blocks)
    assert alert.blocks[0]["text"]["text"] == "Promoted: churn version 4 is the new champion"
    for part in (
        "*New champion*\\nversion 4",
        "*Previous champion*\\n3",
        "✅ churn.roc_auc: 0.8100 (threshold &gt;= 0.7000)",
        "churn.roc_auc: 0.8100 vs champion 0.8000 (no regression: limit 0.7900)",
        "Holdout metrics* (champion: version 3)",
        "churn.roc_auc",
        "+0.0100",
        "<http://mlflow/#/runs/1|MLflow run>",
        "<http://mlflow/#/models/churn/versions/4|model version 4>",
    ):
        assert part in blocks, part
    assert "positive_rate" not in blocks
    assert "Why it was rejected" not in blocks
    _within_slack_limits(alert.blocks)


def test_rejection_lists_its_reasons_and_the_unchanged_champion() -> None:
    decision = {**DECISION, "promote": False, "reasons": ["churn.roc_auc: 0.6500 >= 0.7000 FAILED"],
                "checks": [{**DECISION["checks"][0], "candidate": 0.65, "passed": False}]}
    alert = decision_message(
        model_name="churn", run_id="r1",
        outcome={"promoted": False, "version": "3", "reasons": decision["reasons"]},
        decision=decision, evaluation=EVALUATION, text="summary text",
    )
    blocks = _all_text(alert.blocks)
    assert alert.blocks[0]["text"]["text"] == "Rejected: churn candidate, champion stays at version 3"
    assert "Why it was rejected" in blocks and "churn.roc_auc: 0.6500 &gt;= 0.7000 FAILED" in blocks
    assert "❌ churn.roc_auc: 0.6500 (threshold &gt;= 0.7000)" in blocks
    assert "*Rejected candidate*\\nversion 4" in blocks
    assert alert.text == "summary text"


def test_a_rejection_for_too_few_holdout_rows_shows_the_counts() -> None:
    from retrain.config import GateSpec, HeadGate, HeadSpec, MetricBound
    from retrain.tracking.gate import decide

    gate = GateSpec(heads={"fraud": HeadGate(thresholds={"roc_auc": MetricBound(min=0.6)})})
    decision = decide(gate, [HeadSpec(name="fraud", label="is_fraud", kind="binary")],
                      {"fraud": {"roc_auc": 0.8, "positive_rate": 3 / 1695}}, None, holdout_rows=1695).to_dict()
    alert = decision_message(
        model_name="card_fraud", run_id="r1", outcome={"promoted": False, "version": None,
                                                       "reasons": decision["reasons"]},
        decision=decision, evaluation={"candidate": {"fraud": {"roc_auc": 0.8}}, "champion": None},
    )
    blocks = _all_text(alert.blocks)
    assert "❌ fraud: holdout examples 3 (must be &gt;= 20; 3 positive and 1,692 negative rows)" in blocks
    assert "✅ fraud.roc_auc: 0.8000 (threshold &gt;= 0.6000)" in blocks  # the metric passed; the rows did not


def test_a_head_judged_on_its_labeled_rows_says_how_many() -> None:
    """A head whose label lands late is judged on the holdout rows that have it: the table says on how many."""
    evaluation = {"candidate": {"churn": {"roc_auc": 0.81, "labeled_rows": 1234.0}, "spend": {"rmse": 3.0}},
                  "champion": {"churn": {"roc_auc": 0.80, "labeled_rows": 1234.0}, "spend": {"rmse": 3.1}},
                  "champion_version": "3"}
    alert = decision_message(model_name="churn", run_id="r1", outcome={"promoted": False, "version": "3"},
                             decision=DECISION, evaluation=evaluation)
    table = next(b["text"]["text"] for b in alert.blocks if "Holdout metrics" in b.get("text", {}).get("text", ""))
    [line] = [row for row in table.splitlines() if row.startswith("churn.labeled_rows")]
    assert line.split() == ["churn.labeled_rows", "1,234", "1,234", "—"]
    assert "spend.labeled_rows" not in table  # every holdout row had that head's label


def test_first_promotion_without_champion() -> None:
    alert = decision_message(
        model_name="churn", run_id="r1", outcome={"promoted": True, "version": "1", "previous_champion": None},
        decision={"promote": True, "checks": [], "reasons": ["ok"], "champion_version": None},
        evaluation={"candidate": {"churn": {"roc_auc": 0.8}}, "champion": None, "champion_version": None},
    )
    blocks = _all_text(alert.blocks)
    assert "(no champion yet)" in blocks and "*Previous champion*\\nnone" in blocks
    assert "no rules configured" in blocks


# -- deadline ----------------------------------------------------------------------------------------------


def test_deadline_missed_message() -> None:
    alert = deadline_missed_message(
        dag_id="retrain_churn", run_id="scheduled__2026-11-22T03:00:00+00:00", model_name="churn",
        deadline_minutes=90, queued_at="2026-11-22T03:00:05+00:00", deadline_time="2026-11-22T04:30:05+00:00",
        state="running", airflow_run_url="http://airflow/dags/retrain_churn/runs/x",
    )
    blocks = _all_text(alert.blocks)
    assert alert.blocks[0]["text"]["text"] == "Deadline missed: churn"
    for part in ("*Allowed*\\n90 min from queued", "*Queued at*\\n2026-11-22T03:00:05+00:00",
                 "*Deadline*\\n2026-11-22T04:30:05+00:00", "*State at the deadline*\\nrunning",
                 "<http://airflow/dags/retrain_churn/runs/x|Open the run in Airflow>"):
        assert part in blocks, part
    assert "had not finished 90 min after it was queued" in alert.text
    _within_slack_limits(alert.blocks)


# -- fan-out digest ----------------------------------------------------------------------------------------


def _segments(n: int) -> list[dict]:
    outcomes = []
    for i in range(n):
        if i % 100 == 7:
            outcomes.append({"segment": f"seg-{i:04d}", "error": f"ConnectionError: mlflow down ({i})", "task": "train"})
        elif i % 10 == 3:
            outcomes.append({"segment": f"seg-{i:04d}", "promoted": False, "version": "2",
                             "reasons": [f"auc too low ({i})"]})
        else:
            outcomes.append({"segment": f"seg-{i:04d}", "promoted": True, "version": "3"})
    return outcomes


def test_digest_of_a_thousand_segments_is_one_bounded_message() -> None:
    outcomes = _segments(1000)
    alert = digest_message(model_name="churn", run_id="r1", outcomes=outcomes, listed=5)
    blocks = _all_text(alert.blocks)
    assert alert.blocks[0]["text"]["text"] == "churn: 1000 segments — 10 failed, 100 rejected, 890 promoted"
    assert "*Failed*\\n10" in blocks and "*Rejected*\\n100" in blocks and "*Promoted*\\n890" in blocks
    assert "`seg-0007`: train: ConnectionError: mlflow down (7)" in blocks
    assert "seg-0407" in blocks and "seg-0507" not in blocks, "only the first 5 failures are named"
    assert "… and 5 more failed segments" in blocks
    assert "… and 95 more rejected segments" in blocks
    assert len(alert.text) <= 3000 and len(blocks) < 8000
    _within_slack_limits(alert.blocks)


def test_digest_size_does_not_grow_with_the_number_of_segments() -> None:
    small = digest_message(model_name="m", run_id="r", outcomes=_segments(1000))
    huge = digest_message(model_name="m", run_id="r", outcomes=_segments(20000))
    assert abs(len(_all_text(huge.blocks)) - len(_all_text(small.blocks))) < 100


def test_digest_all_promoted_and_empty() -> None:
    alert = digest_message(model_name="m", run_id="r", outcomes=[{"segment": "a", "promoted": True}])
    assert alert.blocks[0]["text"]["text"] == "m: 1 segment — 1 promoted"
    assert "Failed segments" not in _all_text(alert.blocks)
    assert digest_message(model_name="m", run_id="r", outcomes=[]).blocks[0]["text"]["text"] == "m: 0 segments — no segments"


def test_segment_status() -> None:
    assert segment_status({"status": "skipped"}) == "skipped"
    assert segment_status({"error": "x"}) == "failed"
    assert segment_status({"promoted": True}) == "promoted"
    assert segment_status({"promoted": False}) == "rejected"
    assert segment_status({}) == "unknown"


# -- building blocks ---------------------------------------------------------------------------------------


def test_fields_are_split_ten_to_a_section() -> None:
    sections = fields([(f"n{i}", "v") for i in range(23)])
    assert [len(s["fields"]) for s in sections] == [10, 10, 3]


def test_limit_blocks_keeps_fifty_and_says_so() -> None:
    blocks = [{"type": "divider"}] * 80
    limited = limit_blocks(blocks)
    assert len(limited) == 50 and "31 more blocks left out" in limited[-1]["elements"][0]["text"]


def test_bullet_section_counts_what_does_not_fit() -> None:
    block = bullet_section("T", ["x" * 100] * 100)
    assert len(block["text"]["text"]) <= 3000 and "more" in block["text"]["text"]


def test_link_cannot_be_broken_by_its_url_or_label() -> None:
    assert link("http://a/b>c|d", "x|y") == "<http://a/b%3Ec%7Cd|x/y>"
    assert link(None, "<label>") == "&lt;label&gt;"


def test_digest_carries_the_data_contracts_warnings_escaped() -> None:
    warning = "retrain_segment_has_value on store: 412 of 9,000 rows have no 'store' value <!channel>"
    alert = digest_message(model_name="m", run_id="r", outcomes=_segments(20), notes=[warning])
    blocks = _all_text(alert.blocks)
    assert "Data warning: retrain_segment_has_value on store: 412 of 9,000 rows" in alert.text
    assert "412 of 9,000 rows have no 'store' value &lt;!channel&gt;" in blocks and "<!channel>" not in blocks
    _within_slack_limits(alert.blocks)
    assert "Data warning" not in digest_message(model_name="m", run_id="r", outcomes=_segments(20)).text


def test_a_contract_failure_in_scoring_says_nothing_was_scored_not_that_training_stopped() -> None:
    import dataclasses

    scoring = dataclasses.replace(REPORT, dag_id="score_churn", task_id="score_newest_partition")
    text = contract_failure_message(scoring, CONTRACT_ERROR).text
    assert "no predictions landed for it (those already landed stay)" in text
    assert "not retrained" not in text
    assert "the model is not retrained or promoted" in contract_failure_message(REPORT, CONTRACT_ERROR).text
