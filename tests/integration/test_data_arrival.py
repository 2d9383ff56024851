"""Data arrival on a real, running Airflow: api-server, scheduler (LocalExecutor, ONE worker slot),
dag-processor and triggerer as separate processes, with a real MLflow store and a Slack stand-in.

The tests run in order on the shared stack (tests/support/shared_airflow.py); together they tell one story:

1. a partition lands with its marker, an upstream system posts the asset event through the REST API, and
   the model's run trains and promotes;
2. a half-written partition (no marker) is never announced: the announce helper refuses it and the
   landing DAG waits for its marker without starting a model run;
3. an event that comes too early (the partition is still being written) starts a run whose freshness check
   *defers*: the task waits on the triggerer while the only worker slot runs other work, and resumes once
   the marker lands;
4. the same partitions announced again train nothing twice (the runs are skipped, with a message);
5. a dataset that never delivers ends its run as stale data, with a Slack alert and no model;
6. in a real browser, a person triggers a model from its form (as of a past date, promote=approval),
   approves on the required-action page, the champion moves, and the scoring DAG runs from the Asset event.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from retrain.assets import dataset_asset_uri
from retrain.data.arrival import IncompletePartitionError
from retrain.data.landing import mark_complete, write_partition
from retrain.orchestration.announce import announce_partition
from retrain_demo.data import generate_day, generate_demo_data

from tests.support.arrival_stack import small_esmm_spec, today_utc
from tests.support.browser import browser, button, settle
from tests.support.shared_airflow import share_airflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "retrain_ecommerce_esmm"
LAND = "retrain_land_ecommerce_impressions"
NEVER = "retrain_partner_esmm"  # reads a dataset that never arrives
LOCATION = "ecommerce/impressions"
URI = dataset_asset_uri(LOCATION)
ROWS = 3_000
TODAY = today_utc()
YESTERDAY = TODAY - timedelta(days=1)
UI_MODEL, UI_SCORING = "retrain_ui_esmm", "score_ui_esmm"  # driven from the browser (test 6)
UI_LOCATION = "ui/impressions"
UI_AS_OF = date(2025, 3, 10)  # long before the run: the form's as_of, not the wall clock, picks the data


def _ui_spec() -> dict:
    """Manual only, 1 epoch, no gate thresholds (the gate passes; a person decides), with batch scoring."""
    spec = small_esmm_spec("ui_esmm", location=UI_LOCATION, schedule={}, gate={"heads": {}},
                           freshness={"max_age_hours": 48, "min_rows": 100},
                           scoring={"output": "ui/predictions", "passthrough_columns": ["event_time"]})
    spec["training"]["epochs"] = 1
    spec["validation"].pop("drift", None)
    return spec


share_airflow(stack="arrival", specs=[
    small_esmm_spec(schedule={"on_data_arrival": True}),
    small_esmm_spec("partner_esmm", schedule={"on_data_arrival": True}, location="partner/impressions",
                    freshness={"max_age_hours": 48, "min_rows": 1000, "wait_minutes": 0.25}),
    _ui_spec(),
])


@pytest.fixture(scope="module")
def stack(shared_airflow, monkeypatch_module):
    s = shared_airflow
    # The announce helper runs in this process: point it at the stack's landing zone.
    monkeypatch_module.setenv("RETRAIN_DATA_ROOT", str(s.data_root))
    for dag_id in (MODEL, LAND, NEVER, UI_MODEL, UI_SCORING):
        s.airflow.wait_for_dag(dag_id)
        s.api.set_paused(dag_id, False)  # the shared stack creates every DAG paused
    return s


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def dataset(stack):
    return stack.data_root / LOCATION


def _known(stack, dag_id=MODEL) -> set[str]:
    return {r["dag_run_id"] for r in stack.runs(dag_id)}


def test_rest_asset_event_starts_a_run_that_trains_and_promotes(stack, dataset):
    generate_demo_data(stack.data_root, YESTERDAY, days=7, rows_per_day=ROWS)
    assert stack.runs(MODEL) == []

    event = stack.api.post_asset_event(URI, {"partition": YESTERDAY.isoformat()})  # POST /api/v2/assets/events
    assert event["extra"]["partition"] == YESTERDAY.isoformat()

    run = stack.wait_for_new_run(MODEL, set())
    assert run["run_type"] == "asset_triggered"
    run = stack.wait_for_run_end(MODEL, run["dag_run_id"])
    states = stack.states(MODEL, run["dag_run_id"])
    assert run["state"] == "success", states
    assert states["train"] == "success" and states["promote"] == "success" and states["reject"] == "skipped"
    # each stage's result is one XCom (the task's XCom tab), not one more per key of its dict
    for task_id in ("validate_data", "train", "evaluate", "gate", "promote"):
        path = f"dags/{MODEL}/dagRuns/{quote(run['dag_run_id'], safe='')}/taskInstances/{task_id}/xcomEntries"
        assert [e["key"] for e in stack.api.call("GET", path)["xcom_entries"]] == ["return_value"], task_id

    (trained,) = stack.mlflow_runs("ecommerce_esmm")
    tags = trained.data.tags
    assert tags["airflow.run_id"] == run["dag_run_id"] and tags["retrain.gate_decision"] == "promote"
    # The run trains as of the end of the announced day, whatever the clock said when the event came.
    assert tags["retrain.as_of"].startswith(f"{TODAY.isoformat()}T00:00:00")
    assert tags["retrain.data_partitions"].split(",")[-1] == f"dt={YESTERDAY.isoformat()}"


def test_half_written_partition_triggers_nothing(stack, dataset):
    write_partition(generate_day(TODAY, ROWS), dataset, TODAY, complete=False)  # data written, no marker yet
    events_before, runs_before = len(stack.api.asset_events(URI)), _known(stack)

    with pytest.raises(IncompletePartitionError, match="has no '_SUCCESS' marker"):
        announce_partition(stack.api, LOCATION, TODAY)

    # The landing DAG, asked to announce it, waits for the marker (deferred) instead of announcing.
    landing = stack.api.trigger(LAND, {"day": TODAY.isoformat()})
    ti = stack.wait_for_task_state(LAND, landing["dag_run_id"], "wait_for_partition", "deferred")
    assert ti["trigger"]["classpath"] == "retrain.orchestration.triggers.PartitionMarkerTrigger"
    assert stack.states(LAND, landing["dag_run_id"])["announce_partition"] in (None, "no_status")
    assert len(stack.api.asset_events(URI)) == events_before
    assert _known(stack) == runs_before


def test_early_event_defers_check_freshness_and_frees_the_worker_slot(stack, dataset):
    runs_before = _known(stack)
    # An upstream system announces today's partition too early: it is still being written.
    stack.api.post_asset_event(URI, {"partition": TODAY.isoformat()})
    run_id = stack.wait_for_new_run(MODEL, runs_before)["dag_run_id"]
    waiting = stack.wait_for_task_state(MODEL, run_id, "check_freshness", "deferred")
    assert waiting["trigger"]["classpath"] == "retrain.orchestration.triggers.PartitionMarkerTrigger"

    # With one worker slot in all, other work still runs while the sensor waits on the triggerer:
    # the landing DAG announces yesterday's partition (again) from start to end.
    landing = stack.api.trigger(LAND, {"day": YESTERDAY.isoformat()})
    assert stack.wait_for_run_end(LAND, landing["dag_run_id"], timeout=240)["state"] == "success"
    assert stack.states(MODEL, run_id)["check_freshness"] == "deferred"
    assert stack.states(MODEL, run_id)["train"] in (None, "no_status")

    mark_complete(dataset / f"dt={TODAY.isoformat()}", rows=ROWS, files=["part-00000.parquet"])  # marker lands
    run = stack.wait_for_run_end(MODEL, run_id)
    states = stack.states(MODEL, run_id)
    assert run["state"] == "success" and states["train"] == "success", states
    log = stack.log(MODEL, run_id, "check_freshness")
    assert "the announced partition exists but has no '_SUCCESS' marker" in log
    assert "worker slot released" in log and "landed; checking freshness again" in log
    newest = [r for r in stack.mlflow_runs("ecommerce_esmm") if r.data.tags["airflow.run_id"] == run_id]
    assert len(newest) == 1
    assert newest[0].data.tags["retrain.data_partitions"].split(",")[-1] == f"dt={TODAY.isoformat()}"


def test_partitions_announced_again_are_not_trained_twice(stack, dataset):
    # The landing runs of the previous tests announced yesterday and (once its marker landed) today again;
    # those events queue model runs behind the running one. Then yesterday lands once more, byte for byte.
    for landing in stack.runs(LAND):
        assert stack.wait_for_run_end(LAND, landing["dag_run_id"], timeout=240)["state"] == "success"
    write_partition(generate_day(YESTERDAY, ROWS), dataset, YESTERDAY)
    before = _known(stack)
    stack.api.post_asset_event(URI, {"partition": YESTERDAY.isoformat()})
    stack.wait_for_new_run(MODEL, before)

    def all_done():
        runs = stack.runs(MODEL)
        return runs if all(r["state"] in ("success", "failed") for r in runs) else None

    runs = stack.airflow.wait_for(all_done, timeout=420, what="every queued model run to finish")
    trained = {r.data.tags["airflow.run_id"] for r in stack.mlflow_runs("ecommerce_esmm")}
    assert len(trained) == 2  # the first run and the early-event run; nothing since
    repeats = [r for r in runs if r["dag_run_id"] not in trained]
    assert len(repeats) >= 1
    for run in repeats:
        states = stack.states(MODEL, run["dag_run_id"])
        assert run["state"] == "success"
        assert states["check_freshness"] == "skipped" and states["train"] == "skipped", states
        log = stack.log(MODEL, run["dag_run_id"], "check_freshness")
        assert "nothing new to train on: ecommerce_esmm was already trained on this data" in log


def test_data_that_never_arrives_ends_as_stale_data_with_a_slack_alert(stack):
    stack.slack.reset()
    run = stack.api.trigger(NEVER, logical_date=None)
    stack.wait_for_task_state(NEVER, run["dag_run_id"], "check_freshness", "deferred")
    run = stack.wait_for_run_end(NEVER, run["dag_run_id"], timeout=240)
    states = stack.states(NEVER, run["dag_run_id"])
    assert run["state"] == "failed"
    assert states["check_freshness"] == "failed" and states["train"] == "upstream_failed"
    assert stack.mlflow_runs("partner_esmm") == []

    alerts = stack.slack.wait_for_messages(1, timeout=30)
    text = " ".join((m.text or "") + str(m.blocks) for m in alerts)
    assert NEVER in text and "check_freshness" in text
    assert "Stale data" in text and "waited 0.25 min" in text and "no model is trained or promoted" in text


def test_ui_trigger_form_approval_champion_asset_and_scoring(stack):
    """Headless Chromium against the api-server: the trigger form (as_of, promote=approval), the approval page,
    the champion moving in MLflow, and the scoring DAG started by the champion's Asset event. With
    RETRAIN_UI_SCREENSHOTS=<folder> the form and the approval page are saved there (docs/img for the README)."""
    from urllib.parse import quote

    from mlflow import MlflowClient
    from retrain.orchestration.airflow_api import AirflowApiError
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    generate_demo_data(stack.data_root, UI_AS_OF, days=3, rows_per_day=1_500, dataset=UI_LOCATION)
    with pytest.raises(AirflowApiError) as refused:  # invalid input is refused whole: no run is created
        stack.api.trigger(UI_MODEL, conf={"promote": "approval", "slack_channel": "#elsewhere"})
    assert refused.value.status == 400 and stack.runs(UI_MODEL) == []

    airflow, shots = stack.airflow, stack.root / "screenshots"
    shots.mkdir(exist_ok=True)
    with browser(airflow.base_url, airflow.username, airflow.password) as driver:
        driver.get(f"{airflow.base_url}/dags/{UI_MODEL}")
        button(driver, "Trigger").click()
        as_of = WebDriverWait(driver, 60).until(lambda d: d.find_element(By.NAME, "element_as_of"))
        as_of.send_keys(UI_AS_OF.strftime("%m/%d/%Y"))
        promote = driver.find_element(By.XPATH, "//input[@name='element_promote']/preceding::input[1]")
        promote.click()
        promote.send_keys("approval", Keys.ENTER)
        assert driver.find_element(By.NAME, "element_promote").get_attribute("value") == "approval"
        assert as_of.get_attribute("value") == UI_AS_OF.isoformat()
        assert not driver.find_element(By.NAME, "element_slack_channel").is_displayed()  # const: hidden
        settle()
        driver.save_screenshot(str(shots / "trigger-form.png"))
        button(driver, "Trigger").click()

        run_id = stack.wait_for_new_run(UI_MODEL, set())["dag_run_id"]
        run = stack.api.call("GET", f"dags/{UI_MODEL}/dagRuns/{quote(run_id, safe='')}")
        assert run["conf"]["as_of"] == UI_AS_OF.isoformat()
        stack.wait_for_approval_request(UI_MODEL, run_id)
        page = f"{airflow.base_url}/dags/{UI_MODEL}/runs/{run_id}/tasks/approve_promotion/required_actions"
        asked = [m for m in stack.slack.messages if "Approval needed: promote ui_esmm" in m.text]
        assert asked and page.split("?")[0] in asked[-1].text

        driver.get(page)
        reason = WebDriverWait(driver, 120).until(lambda d: d.find_element(By.NAME, "element_reason"))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "promote=approval" in body and "Gate checks" in body and "| candidate |" not in body  # a table
        reason.send_keys("checked the holdout table")  # required: Approve stays disabled without a reason
        approve = button(driver, "Approve")
        settle()
        driver.save_screenshot(str(shots / "approval.png"))
        approve.click()
        ended = stack.wait_for_run_end(UI_MODEL, run_id, timeout=600)

    target = os.environ.get("RETRAIN_UI_SCREENSHOTS")
    if target:
        for shot in shots.iterdir():
            shutil.copyfile(shot, os.path.join(target, shot.name))
    states = stack.states(UI_MODEL, run_id)
    assert ended["state"] == "success", states
    assert states["approve_promotion"] == "success" and states["promote"] == "success", states
    assert states["reject"] == "skipped" and states["announce_champion"] == "success", states

    client = MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)
    champion = client.get_model_version_by_alias("ui_esmm", "champion")
    assert champion.tags["retrain.approval.decision"] == "approved"
    assert champion.tags["retrain.approval.by"] == airflow.username
    assert champion.tags["retrain.approval.reason"] == "checked the holdout table"
    assert client.get_run(champion.run_id).data.tags["retrain.as_of"].startswith("2025-03-11T00:00")

    scoring = stack.wait_for_new_run(UI_SCORING, set(), timeout=300)  # started by the champion's Asset event
    assert stack.wait_for_run_end(UI_SCORING, scoring["dag_run_id"])["state"] == "success"
    marker = stack.data_root / "ui/predictions" / f"dt={UI_AS_OF.isoformat()}" / "_SUCCESS"
    assert marker.is_file()
