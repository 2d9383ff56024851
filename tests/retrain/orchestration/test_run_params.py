"""The trigger form: typed Params refuse bad input whole, and a run reads back what was asked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from retrain.config import load_spec
from retrain.orchestration.run_params import RunParamError, dag_params, run_choices

from tests.retrain.orchestration.helpers import SPEC, context

SPEC_OBJ = load_spec(SPEC).spec


def _validated(conf: dict) -> dict:
    """What Airflow does with a trigger's conf before it creates the run."""
    from airflow.sdk.definitions.param import ParamsDict

    params = ParamsDict(dag_params(SPEC_OBJ))
    params.update(conf)  # each value is checked against its Param's schema, as when a run is created
    return params.validate()


def test_the_form_accepts_a_full_request() -> None:
    values = _validated({"as_of": "2013-06-10", "promote": "approval", "retrain_seen_data": False, "epochs": 1,
                         "learning_rate": 0.01})
    choices = run_choices(values)
    assert choices.as_of == date(2013, 6, 10) and choices.promote == "approval" and not choices.retrain_seen_data
    assert choices.overrides == {"epochs": 1, "learning_rate": 0.01}
    assert choices.as_of_point() == datetime(2013, 6, 11, tzinfo=UTC)  # the day's partition is included


@pytest.mark.parametrize("conf", [
    {"promote": "sometimes"},
    {"as_of": "2013-13-45"},
    {"epochs": 0},
    {"epochs": "five"},
    {"learning_rate": -1},
    {"model_name": "someone_else"},        # const: hidden in the form, refused in a conf
    {"slack_channel": "#random"},          # editing it used to re-route the alerts
], ids=lambda c: next(iter(c)))
def test_the_form_refuses_invalid_input(conf: dict) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        _validated(conf)


def test_fixed_fields_are_const_and_the_advanced_ones_grouped() -> None:
    params = dag_params(SPEC_OBJ)
    assert params["model_name"].schema["const"] == "ecommerce_esmm"
    assert params["slack_channel"].schema["const"] == SPEC_OBJ.alerts.slack_channel
    assert params["as_of"].schema["format"] == "date"
    assert {params[n].schema.get("section") for n in ("epochs", "learning_rate", "wait_minutes")} == {
        params["epochs"].schema["section"]}


def test_defaults_change_nothing() -> None:
    choices = run_choices(_validated({}))
    assert choices.as_of is None and choices.promote == "auto" and choices.retrain_seen_data
    assert choices.overrides == {} and choices.effective_wait_minutes(SPEC_OBJ) == SPEC_OBJ.data.freshness.wait_minutes


def test_a_past_date_does_not_wait_unless_asked() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert run_choices({"as_of": "2013-06-10"}).effective_wait_minutes(SPEC_OBJ, now) == 0
    assert run_choices({"as_of": "2013-06-10", "wait_minutes": 5}).effective_wait_minutes(SPEC_OBJ, now) == 5
    assert run_choices({"as_of": "2026-12-05"}).effective_wait_minutes(SPEC_OBJ, now) == 60


def test_a_conf_that_bypassed_the_form_is_refused_by_name() -> None:
    with pytest.raises(RunParamError, match="param 'promote'"):
        run_choices({"promote": "yolo"})
    with pytest.raises(RunParamError, match="param 'as_of'"):
        run_choices({"as_of": "yesterday"})


def test_the_run_trains_as_of_the_requested_date() -> None:
    from retrain.orchestration.sensors import interval_as_of

    ctx = context(data_interval_end=datetime(2026, 12, 1, 3, tzinfo=UTC), params={"as_of": "2013-06-10"})
    assert interval_as_of(ctx) == datetime(2013, 6, 11, tzinfo=UTC)
    assert interval_as_of(context(data_interval_end=datetime(2026, 12, 1, 3, tzinfo=UTC))) == datetime(
        2026, 12, 1, 3, tzinfo=UTC)
