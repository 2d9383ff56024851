"""Every DAG imports cleanly, without heavy libraries, with tags, an owner, retries and an alert callback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
HEAVY = ["torch", "mlflow", "great_expectations", "sklearn"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"retrain_ecommerce_esmm", "retrain_ecommerce_dwell_time", "retrain_land_ecommerce_impressions"} <= set(
        dagbag.dag_ids
    )


def test_every_dag_has_tags_owner_retries_and_failure_alert(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        if "landing" not in dag.tags:  # one model run at a time; landing DAGs may wait for several days at once
            assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.owner not in ("", "airflow"), f"{where} has no owner"
            assert task.retries >= 3, f"{where} retries={task.retries}"
            assert task.retry_exponential_backoff > 0, f"{where} has no exponential backoff"
            assert task.max_retry_delay is not None, f"{where} has no max_retry_delay"
            assert task.retry_policy is not None, f"{where} has no retry policy"
            assert task.on_failure_callback, f"{where} has no failure callback"


def test_no_task_can_hang_without_ever_failing(dagbag):
    """A stage stuck on a stalled mount or a silent network peer holds its worker slot and never alerts, unless
    it has an execution timeout: every task has one, and the training tasks the longer one. The approval wait
    is bounded by its own response timeout; deferred waits are the trigger's (timeout given at defer)."""
    from retrain.settings import get_settings

    settings = get_settings()
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            if task.task_id == "approve_promotion":
                assert task.response_timeout is not None, where
                continue
            long = task.task_id in ("train", "tune", "train_chunk")
            assert task.execution_timeout == (settings.train_timeout if long else settings.task_timeout), where


def test_pipeline_order(dagbag):
    dag = dagbag.dags["retrain_ecommerce_esmm"]
    downstream = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert downstream["check_freshness"] == ["evaluate", "train", "validate_data"]
    assert downstream["validate_data"] == ["train"]
    assert downstream["train"] == ["announce_champion", "evaluate", "gate", "notify", "promote", "reject"]
    assert downstream["decide"] == ["approve_promotion", "promote", "reject"]
    assert downstream["approve_promotion"] == ["promote", "reject"]
    assert downstream["promote"] == ["announce_champion", "notify"] and downstream["reject"] == ["notify"]
    assert dag.get_task("approve_promotion").task_type == "PromotionApprovalOperator"
    assert [o.uri.rstrip("/") for o in dag.get_task("announce_champion").outlets] == ["mlflow-model://ecommerce_esmm"]


def test_deterministic_failures_fail_fast(dagbag):
    from airflow.sdk import RetryAction
    from retrain.errors import DataContractError, SpecError, StaleDataError

    task = dagbag.dags["retrain_ecommerce_esmm"].get_task("validate_data")
    for error in (DataContractError("x"), SpecError("x", path="p"), StaleDataError("x")):
        decision = task.retry_policy.evaluate(error, try_number=1, max_tries=4, context={})
        assert decision.action == RetryAction.FAIL, type(error).__name__
    transient = task.retry_policy.evaluate(ConnectionError("mlflow down"), try_number=1, max_tries=4, context={})
    assert transient.action != RetryAction.FAIL


def test_dag_file_imports_no_heavy_libraries():
    code = (
        "import runpy, sys, json; runpy.run_path(sys.argv[1]);"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(DAGS / "retrain_models.py")],
                         capture_output=True, text=True, check=True, env=os.environ.copy())
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_broken_spec_is_isolated_and_visible(tmp_path, monkeypatch):
    good = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())
    (tmp_path / "ecommerce_esmm.yaml").write_text(yaml.safe_dump(good))
    bad = dict(good, name="churn")
    bad["training"] = {**good["training"], "epochs": "many"}
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(tmp_path))

    from retrain.orchestration.dag_factory import build_all

    dags = build_all()
    assert set(dags) == {"retrain_ecommerce_esmm", "retrain_churn"}
    broken = dags["retrain_churn"]
    assert "invalid-spec" in broken.tags
    assert "churn.yaml" in broken.description and "training.epochs" in broken.description
    assert len(dags["retrain_ecommerce_esmm"].tasks) == 11


# -- data arrival: schedules, the freshness sensor, the landing DAG ----------------------------------------


def _spec_dir(tmp_path, monkeypatch, **schedules):
    good = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())
    for name, schedule in schedules.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(dict(good, name=name, schedule=schedule)))
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(tmp_path))


def test_schedules_cron_with_timezone_asset_or_both(tmp_path, monkeypatch):
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable
    from retrain.assets import dataset_asset_uri
    from retrain.orchestration.dag_factory import build_all

    _spec_dir(tmp_path, monkeypatch,
              cron_only={"cron": "0 4 * * *", "timezone": "Europe/Berlin"},
              asset_only={"on_data_arrival": True},
              both={"cron": "0 3 * * 1-5", "timezone": "America/New_York", "on_data_arrival": True, "catchup": True,
                    "start_date": "2026-01-01"},
              manual_only={})
    dags = build_all()
    cron = dags["retrain_cron_only"].timetable
    assert isinstance(cron, CronTriggerTimetable) and cron.expression == "0 4 * * *"
    assert str(cron.timezone) == "Europe/Berlin" and not dags["retrain_cron_only"].catchup
    asset_only = dags["retrain_asset_only"]
    assert [a.uri for a in asset_only.timetable.asset_condition.objects] == [dataset_asset_uri("ecommerce/impressions")]
    both = dags["retrain_both"]
    assert isinstance(both.timetable, AssetOrTimeSchedule) and both.catchup
    assert both.timetable.timetable.expression == "0 3 * * 1-5"
    assert str(both.timetable.timetable.timezone) == "America/New_York"
    assert [a.uri for a in both.timetable.asset_condition.objects] == [dataset_asset_uri("ecommerce/impressions")]
    assert type(dags["retrain_manual_only"].timetable).__name__ == "NullTimetable"


def test_check_freshness_is_a_deferrable_sensor(dagbag):
    from retrain.orchestration.sensors import FreshDataSensor

    task = dagbag.dags["retrain_ecommerce_esmm"].get_task("check_freshness")
    assert isinstance(task, FreshDataSensor) and task.loaded.spec.name == "ecommerce_esmm"
    assert "defers" in task.doc_md and "skipped" in task.doc_md


def test_landing_dag_announces_the_asset_the_models_are_scheduled_on(dagbag):
    from retrain.assets import dataset_asset_uri

    land = dagbag.dags["retrain_land_ecommerce_impressions"]
    assert type(land.timetable).__name__ == "NullTimetable" and "landing" in land.tags
    assert sorted(t.task_id for t in land.tasks) == ["announce_partition", "wait_for_partition"]
    assert land.get_task("wait_for_partition").downstream_task_ids == {"announce_partition"}
    outlets = land.get_task("announce_partition").outlets
    assert [a.uri for a in outlets] == [dataset_asset_uri("ecommerce/impressions")]
    model = dagbag.dags["retrain_ecommerce_esmm"]
    assert {a.uri for a in model.timetable.asset_condition.objects} == {a.uri for a in outlets}
    assert set(land.params.keys()) >= {"day", "wait_minutes"}


def test_asset_uris_live_in_one_module():
    scheme = "retrain-data" + "://"
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("include/retrain", "dags", "plugins")
        for path in (ROOT / folder).rglob("*.py")
        if scheme in path.read_text() and path.name != "assets.py"
    ]
    assert offenders == []


def test_a_run_under_way_outranks_the_next_runs_first_task(dagbag):
    """weight_rule "upstream": the scheduler gives a task the weight of itself and everything before it, so
    with many runs queued it finishes started runs first instead of starting every run's first task."""
    for dag_id, dag in dagbag.dags.items():
        assert {task.weight_rule for task in dag.tasks} == {"upstream"}, dag_id

    dag = dagbag.dags["retrain_ecommerce_esmm"]

    def weight(task_id: str) -> int:  # what Airflow's "upstream" strategy computes for a task instance
        task = dag.get_task(task_id)
        return task.priority_weight + sum(dag.get_task(t).priority_weight
                                          for t in task.get_flat_relative_ids(upstream=True))

    order = ["check_freshness", "validate_data", "train", "evaluate", "gate", "decide", "notify"]
    assert [weight(t) for t in order] == sorted(weight(t) for t in order)
    assert weight("check_freshness") < weight("train") < weight("notify")


def test_every_task_result_is_one_xcom(dagbag):
    """A stage's dict result travels as one XCom. A ``-> dict`` annotation alone makes Airflow push every key
    as an XCom of its own too (``multiple_outputs``): 42 more writes through the API server per model run."""
    unrolled = [f"{dag_id}.{task.task_id}" for dag_id, dag in dagbag.dags.items() for task in dag.tasks
                if getattr(task, "multiple_outputs", False)]
    assert {"retrain_ecommerce_esmm", "tune_ecommerce_dwell_time", "score_ecommerce_dwell_time"} <= set(dagbag.dag_ids)
    assert unrolled == []
