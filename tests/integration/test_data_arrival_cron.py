"""Cron schedules on a real, running scheduler: runs keyed by their data interval, in the spec's timezone.

The model is scheduled "cron OR asset": ``0 3 * * *`` Europe/Berlin, plus its dataset's Asset. The tests
run in order on the shared stack (tests/support/shared_airflow.py), with a model and a dataset of their own:

1. unpausing the DAG (catchup off) starts one run for the most recent 03:00 Berlin tick, which trains on
   the partitions before that tick;
2. a backfill of the two ticks before creates one run per tick, each reading its own window;
3. clearing the scheduled run reruns the same interval: same partitions, same fingerprint, so it is skipped
   instead of training the same model twice;
4. an asset event for the newest partition of that window is the same data again: skipped too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from retrain.assets import dataset_asset_uri
from retrain_demo.data import generate_demo_data

from tests.support.arrival_stack import small_esmm_spec, today_utc
from tests.support.shared_airflow import share_airflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "cron_esmm"
MODEL = f"retrain_{NAME}"
LOCATION = "cron/impressions"
BERLIN = ZoneInfo("Europe/Berlin")
URI = dataset_asset_uri(LOCATION)

share_airflow(stack="approval", specs=[small_esmm_spec(NAME, location=LOCATION, schedule={
    "cron": "0 3 * * *", "timezone": "Europe/Berlin", "on_data_arrival": True})])


@pytest.fixture(scope="module")
def stack(shared_airflow):
    generate_demo_data(shared_airflow.data_root, today_utc() - timedelta(days=1), days=10, rows_per_day=3_000,
                       dataset=LOCATION)
    shared_airflow.airflow.wait_for_dag(MODEL)
    return shared_airflow


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _trained(stack) -> dict[str, dict]:
    return {r.data.tags["airflow.run_id"]: r.data.tags for r in stack.mlflow_runs(NAME)}


@pytest.fixture(scope="module")
def scheduled(stack):
    """The run the scheduler starts when the DAG is unpaused."""
    assert stack.api.dag(MODEL)["is_paused"] is True and stack.runs(MODEL) == []
    stack.api.set_paused(MODEL, False)
    run = stack.wait_for_new_run(MODEL, set())
    return stack.wait_for_run_end(MODEL, run["dag_run_id"])


def test_unpausing_runs_the_latest_tick_keyed_by_its_interval(stack, scheduled):
    assert scheduled["run_type"] == "scheduled" and scheduled["state"] == "success"
    tick = _at(scheduled["data_interval_end"])
    assert _at(scheduled["logical_date"]) == tick == _at(scheduled["data_interval_start"])
    berlin = tick.astimezone(BERLIN)
    assert (berlin.hour, berlin.minute) == (3, 0)  # the spec's cron, in the spec's timezone
    assert timedelta(0) <= _at(scheduled["run_after"]) - tick < timedelta(days=1)  # catchup off: only the latest

    tags = _trained(stack)[scheduled["dag_run_id"]]
    assert _at(tags["retrain.as_of"]) == tick  # the data interval, not the wall clock
    newest = (tick.date() - timedelta(days=1)).isoformat()
    assert tags["retrain.data_partitions"].split(",")[-1] == f"dt={newest}"


def test_backfill_runs_each_earlier_tick_on_its_own_window(stack, scheduled):
    tick = _at(scheduled["data_interval_end"])
    stack.api.backfill(MODEL, (tick - timedelta(days=2)).isoformat(), (tick - timedelta(days=1)).isoformat(),
                       max_active_runs=1)

    def two_backfill_runs_done():
        runs = [r for r in stack.runs(MODEL) if r["run_type"] == "backfill"]
        return runs if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = stack.airflow.wait_for(two_backfill_runs_done, timeout=600, what="two backfill runs to finish")
    trained = _trained(stack)
    fingerprints = {trained[scheduled["dag_run_id"]]["retrain.data_fingerprint"]}
    for run in runs:
        assert run["state"] == "success", stack.states(MODEL, run["dag_run_id"])
        interval_end = _at(run["data_interval_end"])
        assert interval_end in (tick - timedelta(days=2), tick - timedelta(days=1))
        tags = trained[run["dag_run_id"]]
        assert _at(tags["retrain.as_of"]) == interval_end
        newest = (interval_end.date() - timedelta(days=1)).isoformat()
        assert tags["retrain.data_partitions"].split(",")[-1] == f"dt={newest}"
        fingerprints.add(tags["retrain.data_fingerprint"])
    assert len(fingerprints) == 3  # three intervals, three different windows of data


def test_rerunning_an_interval_reads_the_same_data_and_trains_nothing_twice(stack, scheduled):
    before = len(stack.mlflow_runs(NAME))
    run_id = scheduled["dag_run_id"]
    fingerprint = _trained(stack)[run_id]["retrain.data_fingerprint"]
    stack.api.clear_run(MODEL, run_id)
    stack.wait_for_task_state(MODEL, run_id, "check_freshness", "skipped", timeout=300)
    assert stack.wait_for_run_end(MODEL, run_id)["state"] == "success"
    states = stack.states(MODEL, run_id)
    assert states["train"] == "skipped" and states["promote"] == "skipped", states
    log = stack.log(MODEL, run_id, "check_freshness", try_number=2)
    assert f"fingerprint {fingerprint[:12]}" in log and "nothing new to train on" in log
    assert len(stack.mlflow_runs(NAME)) == before


def test_asset_event_for_data_already_trained_on_is_skipped(stack, scheduled):
    before, known = len(stack.mlflow_runs(NAME)), {r["dag_run_id"] for r in stack.runs(MODEL)}
    newest = _at(scheduled["data_interval_end"]).date() - timedelta(days=1)
    stack.api.post_asset_event(URI, {"partition": newest.isoformat()})
    run = stack.wait_for_run_end(MODEL, stack.wait_for_new_run(MODEL, known)["dag_run_id"])
    assert run["run_type"] == "asset_triggered" and run["state"] == "success"
    assert stack.states(MODEL, run["dag_run_id"])["check_freshness"] == "skipped"
    assert len(stack.mlflow_runs(NAME)) == before
    stack.api.set_paused(MODEL, True)
