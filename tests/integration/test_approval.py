"""Human approval on a real, running Airflow (the shared stack): a reject through the REST API (what the UI's
"Reject" button sends) and a request nobody answers (the response timeout, a few seconds here, defaults to
Reject). Either way the champion stays, and who/when/why is on the candidate version and in `retrain history`.
Promotion and `retrain rollback` emit the champion's Asset event with the version and run id.
The approve path in a real browser is tests/integration/test_data_arrival.py's last test.
"""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from retrain_demo.data import generate_demo_data

from tests.support import warm_process
from tests.support.arrival_stack import small_esmm_spec
from tests.support.shared_airflow import share_airflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCATION = "approval/impressions"
AS_OF = date(2025, 4, 10)  # past: the runs do not wait for data
DAY_BEFORE = AS_OF - timedelta(days=1)
REJECTED, FORGOTTEN = "approval_reject_esmm", "approval_timeout_esmm"
TIMEOUT_SECONDS = 30  # not less: see ArrivalStack.wait_for_approval_request (a faster answer meets an Airflow race)


def _spec(name: str, **gate) -> dict:
    """Manual only, 1 epoch, no gate thresholds (the gate passes; the approval decides)."""
    spec = small_esmm_spec(name, location=LOCATION, schedule={}, gate={"heads": {}, **gate},
                           freshness={"max_age_hours": 48, "min_rows": 100})
    spec["training"]["epochs"] = 1
    spec["validation"].pop("drift", None)
    return spec


share_airflow(stack="approval", specs=[_spec(REJECTED), _spec(FORGOTTEN, approval_timeout_hours=TIMEOUT_SECONDS / 3600)])


@pytest.fixture(scope="module")
def stack(shared_airflow):
    generate_demo_data(shared_airflow.data_root, AS_OF, days=4, rows_per_day=1_500, dataset=LOCATION)
    for name in (REJECTED, FORGOTTEN):
        shared_airflow.airflow.wait_for_dag(f"retrain_{name}")
        shared_airflow.api.set_paused(f"retrain_{name}", False)
    return shared_airflow


def _client(stack):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)


def _trigger(stack, name: str, promote: str, as_of: date = AS_OF) -> str:
    return stack.api.trigger(f"retrain_{name}", {"as_of": as_of.isoformat(), "promote": promote})["dag_run_id"]


def _cli(stack, *args: str) -> str:
    env = {**os.environ, "MLFLOW_TRACKING_URI": stack.tracking_uri, "AIRFLOW__API__BASE_URL": stack.airflow.base_url,
           "AIRFLOW_USERNAME": stack.airflow.username, "AIRFLOW_PASSWORD": stack.airflow.password}
    done = warm_process.run([Path(sys.executable).parent / "retrain", *args], env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _champion_events(stack, name: str) -> list[dict]:
    from retrain.assets import model_asset

    return [e["extra"] for e in stack.api.asset_events(model_asset(name).uri)]


def test_a_reject_in_the_ui_leaves_the_champion_and_records_who_when_why(stack):
    dag_id = f"retrain_{REJECTED}"
    first = _trigger(stack, REJECTED, "auto", as_of=DAY_BEFORE)
    assert stack.wait_for_run_end(dag_id, first, timeout=900)["state"] == "success"
    client = _client(stack)
    champion = client.get_model_version_by_alias(REJECTED, "champion")
    assert champion.version == 1
    [event] = _champion_events(stack, REJECTED)  # the promotion's Asset event
    assert event["version"] == "1" and event["run_id"] == champion.run_id and event["reason"] == "promotion"

    second = _trigger(stack, REJECTED, "approval")  # a day later: new data, a candidate the gate passes
    stack.wait_for_approval_request(dag_id, second)
    stack.api.call("PATCH", f"dags/{dag_id}/dagRuns/{quote(second, safe='')}/taskInstances/approve_promotion/-1/"
                   "hitlDetails", {"chosen_options": ["Reject"], "params_input": {"reason": "holdout looks odd"}})
    ended = stack.wait_for_run_end(dag_id, second, timeout=600)
    states = stack.states(dag_id, second)
    assert ended["state"] == "success", states
    assert states["reject"] == "success" and states["promote"] == "skipped", states
    assert states["announce_champion"] == "skipped", states
    assert len(_champion_events(stack, REJECTED)) == 1  # no Asset event: nothing moved

    assert client.get_model_version_by_alias(REJECTED, "champion").version == 1  # untouched
    tags = client.get_model_version(REJECTED, "2").tags
    assert tags["retrain.approval.decision"] == "rejected" and tags["retrain.approval.by"] == stack.airflow.username
    assert tags["retrain.approval.reason"] == "holdout looks odd" and tags["retrain.approval.at"].startswith("20")
    run_tags = client.get_run(client.get_model_version(REJECTED, "2").run_id).data.tags
    assert run_tags["retrain.approval.decision"] == "rejected"
    printed = _cli(stack, "history", REJECTED)
    assert f"version 2 rejected by {stack.airflow.username}  (holdout looks odd)" in printed, printed


def test_a_forgotten_request_is_rejected_at_the_timeout_and_the_next_run_goes_on(stack):
    dag_id = f"retrain_{FORGOTTEN}"
    asked = _trigger(stack, FORGOTTEN, "approval")
    following = _trigger(stack, FORGOTTEN, "auto")  # queued behind it: max_active_runs=1
    ended = stack.wait_for_run_end(dag_id, asked, timeout=900)  # nobody answers
    states = stack.states(dag_id, asked)
    assert ended["state"] == "success", states
    assert states["approve_promotion"] == "success" and states["reject"] == "success", states
    assert states["promote"] == "skipped", states

    client = _client(stack)
    tags = client.get_model_version(FORGOTTEN, "1").tags
    assert tags["retrain.approval.decision"] == "rejected" and tags["retrain.approval.reason"] == "timed out"
    assert tags["retrain.approval.by"].startswith("nobody (no answer before the timeout")
    assert "champion" not in client.get_registered_model(FORGOTTEN).aliases  # the request moved nothing

    # the forgotten request did not hold back the next run: it trained and promoted
    assert stack.wait_for_run_end(dag_id, following, timeout=900)["state"] == "success"
    assert client.get_model_version_by_alias(FORGOTTEN, "champion").version == 2
    assert "version 1 rejected by nobody (no answer before the timeout" in _cli(stack, "history", FORGOTTEN)

    # `retrain rollback` moves the champion by hand and tells Airflow, like a promotion
    printed = _cli(stack, "rollback", FORGOTTEN, "--to", "1", "--reason", "the rejected one was fine after all")
    assert "champion Asset event posted to Airflow" in printed, printed
    rollback = _champion_events(stack, FORGOTTEN)[-1]
    assert rollback["reason"] == "rollback" and rollback["version"] == "1" and rollback["previous_champion"] == "2"
    assert rollback["run_id"] == client.get_model_version(FORGOTTEN, "1").run_id
