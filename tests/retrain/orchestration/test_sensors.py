"""check_freshness and the landing sensor, driven the way Airflow's task runner drives them.

Waiting means deferring: ``execute`` raises ``TaskDeferred`` with a trigger (the worker slot is released),
and the task resumes in ``execute_complete`` with the trigger's event. Stale data ends as StaleDataError;
data already trained on is skipped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred
from retrain.config import load_spec
from retrain.data.landing import write_partition
from retrain.errors import StaleDataError
from retrain.orchestration.sensors import FreshDataSensor, PartitionLandedSensor, arrival_point
from retrain.orchestration.triggers import ARRIVED, TIMED_OUT, PartitionMarkerTrigger
from retrain_demo.data import generate_day

from tests.retrain.orchestration.helpers import SPEC, context, event

AS_OF = datetime(2026, 11, 22, 3, tzinfo=UTC)  # a 03:00 cron tick: the window ends with 2026-11-21
DAYS = [date(2026, 11, d) for d in range(15, 22)]


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(root))
    monkeypatch.setenv("RETRAIN_SENSOR_POLL_SECONDS", "7")
    return root / "ecommerce/impressions"


@pytest.fixture
def no_earlier_training(monkeypatch):
    monkeypatch.setattr("retrain.pipeline.data_stages.find_run_on_same_data", lambda loaded, snapshot: None)


def _land(dataset, days, rows=1200, complete=True):
    for day in days:
        write_partition(generate_day(day, rows), dataset, day, complete=complete)


def _sensor(tmp_path, **freshness):
    spec = yaml.safe_load(SPEC.read_text())
    spec["data"]["freshness"].update(freshness)
    path = tmp_path / "ecommerce_esmm.yaml"
    path.write_text(yaml.safe_dump(spec))
    return FreshDataSensor(task_id="check_freshness", loaded=load_spec(path))


def test_fresh_data_returns_the_snapshot_without_waiting(tmp_path, data_root, no_earlier_training):
    _land(data_root, DAYS)
    snapshot = _sensor(tmp_path).execute(context(data_interval_end=AS_OF))
    assert snapshot["newest_partition"] == "2026-11-21" and len(snapshot["partitions"]) == 7


def test_late_data_defers_to_the_triggerer_and_resumes_when_the_marker_lands(tmp_path, data_root, no_earlier_training):
    _land(data_root, DAYS[:-2])  # 2026-11-20 and -21 have not landed: the newest complete day is 51 h old
    sensor = _sensor(tmp_path, max_age_hours=48, wait_minutes=30)
    ctx = context(data_interval_end=AS_OF)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx)
    trigger = deferred.value.trigger
    assert isinstance(trigger, PartitionMarkerTrigger) and deferred.value.method_name == "execute_complete"
    assert [m.rsplit("/", 2)[-2] for m in trigger.markers] == ["dt=2026-11-21", "dt=2026-11-20"]
    assert trigger.poll_seconds == 7
    deadline = datetime.fromisoformat(trigger.deadline)
    assert timedelta(minutes=29) < deadline - datetime.now(UTC) <= timedelta(minutes=30)
    assert deferred.value.timeout > timedelta(minutes=30)  # Airflow's own timeout is only a safety net

    _land(data_root, DAYS[-2:])
    snapshot = sensor.execute_complete(ctx, {"status": ARRIVED, "marker": trigger.markers[0]}, **deferred.value.kwargs)
    assert snapshot["newest_partition"] == "2026-11-21"


def test_no_data_by_the_deadline_ends_as_stale_data(tmp_path, data_root, no_earlier_training):
    sensor = _sensor(tmp_path, wait_minutes=30)
    ctx = context(data_interval_end=AS_OF)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx)
    kwargs = {**deferred.value.kwargs, "deadline": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
    with pytest.raises(StaleDataError, match=r"^stale data: waited 30 min .*no model is trained or promoted.*"
                                             r"no complete partition in the training window") as err:
        sensor.execute_complete(ctx, {"status": TIMED_OUT}, **kwargs)
    assert err.value.reason == "no_partition"


def test_airflow_trigger_timeout_is_stale_data_too_unless_the_data_landed_meanwhile(
    tmp_path, data_root, no_earlier_training
):
    sensor = _sensor(tmp_path, wait_minutes=30)
    timed_out = {"error": "Trigger timeout"}  # what the scheduler sets when it times a trigger out
    with pytest.raises(StaleDataError, match=r"^stale data: waited at least 30 min and the data did not arrive") as err:
        sensor.resume_execution("__fail__", timed_out, context(data_interval_end=AS_OF))
    assert err.value.reason == "no_partition"
    _land(data_root, DAYS)  # landed, but no triggerer noticed (none was running)
    snapshot = sensor.resume_execution("__fail__", timed_out, context(data_interval_end=AS_OF))
    assert snapshot["newest_partition"] == "2026-11-21"


def test_complete_but_too_small_data_fails_at_once(tmp_path, data_root, no_earlier_training):
    _land(data_root, DAYS, rows=100)
    with pytest.raises(StaleDataError, match="fewer than the required 1000"):
        _sensor(tmp_path).execute(context(data_interval_end=AS_OF))


def test_wait_minutes_zero_means_stale_at_once(tmp_path, data_root, no_earlier_training):
    with pytest.raises(StaleDataError, match=r"not waiting: data.freshness.wait_minutes is 0"):
        _sensor(tmp_path, wait_minutes=0).execute(context(data_interval_end=AS_OF))
    # the run's own wait (the trigger form, `retrain run`) is named as the reason, not the spec's
    with pytest.raises(StaleDataError, match=r"not waiting: this run's wait_minutes is 0"):
        _sensor(tmp_path).execute(context(data_interval_end=AS_OF, params={"wait_minutes": 0}))


def test_asset_run_trains_as_of_the_announced_partition_and_waits_for_its_marker(tmp_path, data_root, no_earlier_training):
    _land(data_root, DAYS)
    _land(data_root, [date(2026, 11, 22)], complete=False)  # announced too early: still being written
    ctx = context(run_type="asset_triggered", run_after=datetime(2026, 11, 22, 7, 12, tzinfo=UTC),
                  events=[event("2026-11-21"), event("2026-11-22"), event("2026-11-30", uri="retrain-data://other")])
    assert arrival_point(ctx, "ecommerce/impressions") == (datetime(2026, 11, 23, tzinfo=UTC), date(2026, 11, 22))
    sensor = _sensor(tmp_path)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx)
    assert [m.rsplit("/", 2)[-2] for m in deferred.value.trigger.markers] == ["dt=2026-11-22"]

    _land(data_root, [date(2026, 11, 22)])
    snapshot = sensor.execute_complete(ctx, {"status": ARRIVED}, **deferred.value.kwargs)
    assert snapshot["newest_partition"] == "2026-11-22" and snapshot["as_of"] == "2026-11-23T00:00:00+00:00"


def test_asset_event_without_a_partition_reads_as_of_when_the_run_was_queued(tmp_path, data_root):
    ctx = context(run_type="asset_triggered", run_after=datetime(2026, 11, 22, 7, 12, tzinfo=UTC),
                  events=[event(None)])
    assert arrival_point(ctx, "ecommerce/impressions") == (datetime(2026, 11, 22, 7, 12, tzinfo=UTC), None)


@pytest.mark.parametrize("kind", ["scheduled", "asset_triggered", "backfill"])
def test_data_already_trained_on_skips_the_run(tmp_path, data_root, monkeypatch, kind):
    _land(data_root, DAYS)
    previous = {"mlflow_run_id": "abc", "airflow_run_id": "scheduled__x", "gate_decision": "promote", "version": "3"}
    monkeypatch.setattr("retrain.pipeline.data_stages.find_run_on_same_data", lambda loaded, snapshot: previous)
    with pytest.raises(AirflowSkipException, match=rf"nothing new to train on: ecommerce_esmm was already trained "
                                                   rf"on this data .*MLflow run abc .*version 3\)\. This {kind} run"):
        _sensor(tmp_path).execute(context(run_type=kind, data_interval_end=AS_OF))


def test_a_manual_run_retrains_the_same_data(tmp_path, data_root, monkeypatch):
    _land(data_root, DAYS)
    previous = {"mlflow_run_id": "abc", "airflow_run_id": "x", "gate_decision": "reject", "version": "3"}
    monkeypatch.setattr("retrain.pipeline.data_stages.find_run_on_same_data", lambda loaded, snapshot: previous)
    assert _sensor(tmp_path).execute(context(run_type="manual", data_interval_end=AS_OF))["newest_partition"]


# -- the landing DAG's sensor ----------------------------------------------------------------------------


def test_landing_sensor_passes_a_complete_partition(data_root):
    _land(data_root, [date(2026, 11, 21)])
    sensor = PartitionLandedSensor(task_id="wait_for_partition", location="ecommerce/impressions")
    assert sensor.execute(context(params={"day": "2026-11-21", "wait_minutes": 5})) == "2026-11-21"
    # Without a day: the day before the run's logical date.
    assert sensor.execute(context(logical_date=datetime(2026, 11, 22, 1, tzinfo=UTC), params={})) == "2026-11-21"


def test_landing_sensor_waits_for_a_half_written_partition_and_never_passes_it(data_root):
    _land(data_root, [date(2026, 11, 21)], complete=False)
    sensor = PartitionLandedSensor(task_id="wait_for_partition", location="ecommerce/impressions")
    ctx = context(params={"day": "2026-11-21", "wait_minutes": 5})
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx)
    assert deferred.value.trigger.markers == [str(data_root / "dt=2026-11-21" / "_SUCCESS")]
    with pytest.raises(StaleDataError, match=r"partition 2026-11-21 has no '_SUCCESS' marker after waiting 5 min; "
                                             r"it is not announced"):
        sensor.execute_complete(ctx, {"status": TIMED_OUT}, **deferred.value.kwargs)
    with pytest.raises(StaleDataError, match="it is not announced"):
        sensor.resume_execution("__fail__", {"error": "Trigger timeout"}, ctx)
    _land(data_root, [date(2026, 11, 21)])
    assert sensor.execute_complete(ctx, {"status": ARRIVED}, **deferred.value.kwargs) == "2026-11-21"
    assert sensor.resume_execution("__fail__", {"error": "Trigger timeout"}, ctx) == "2026-11-21"

