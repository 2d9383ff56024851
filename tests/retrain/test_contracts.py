import json
import math

import numpy as np
from retrain.contracts import Evaluation, from_xcom, to_xcom


def test_a_score_undefined_on_the_holdout_travels_as_standard_json_and_comes_back_a_number():
    """roc_auc of a slice with one class is NaN; Airflow's Execution API refuses NaN in JSON (the task failed
    with "Out of range float values are not JSON compliant" before the gate could say why)."""
    evaluation = Evaluation(
        candidate={"atc": {"roc_auc": 0.71, "log_loss": 0.38}},
        challenger_version="3",
        slices={"device": {"tablet": {"rows": 58, "atc": {"roc_auc": float("nan"), "log_loss": np.float32("inf")}}}},
    ).model_dump()
    wire = json.loads(json.dumps(to_xcom(evaluation), allow_nan=False))  # what the Execution API accepts
    assert wire["slices"]["device"]["tablet"]["atc"] == {"roc_auc": "NaN", "log_loss": "Infinity"}
    back = from_xcom(wire)
    tablet = back["slices"]["device"]["tablet"]
    assert math.isnan(tablet["atc"]["roc_auc"]) and tablet["atc"]["log_loss"] == math.inf and tablet["rows"] == 58
    assert back["candidate"] == {"atc": {"roc_auc": 0.71, "log_loss": 0.38}}
    assert Evaluation.model_validate(back).challenger_version == "3"
    assert from_xcom(to_xcom([-math.inf, "a reason", None, True, 2])) == [-math.inf, "a reason", None, True, 2]


def test_a_nul_character_from_the_data_does_not_stop_the_result_reaching_postgres():
    """Airflow keeps XComs as PostgreSQL JSONB, which refuses the NUL character: a category value or a warning
    quoting the data with one in it (binary junk in a text column) failed the task on the production topology."""
    import sqlalchemy as sa
    from retrain_demo.postgres import database_url

    result = {"slices": {"device": {"tab\x00let": {"rows": 3}}},
              "warnings": [{"observed": "unexpected values, e.g. ['smart\x00tv']"}]}
    wire = json.dumps(to_xcom(result), allow_nan=False)
    assert "\\u0000" not in wire and "\x00" not in wire
    with sa.create_engine(database_url("postgres")).connect() as db:  # `make services` starts PostgreSQL
        stored = db.execute(sa.text("SELECT CAST(:value AS jsonb)"), {"value": wire}).scalar_one()
    assert stored["warnings"][0]["observed"] == "unexpected values, e.g. ['smart\ufffdtv']"
    assert list(stored["slices"]["device"]) == ["tab\ufffdlet"]


def test_a_result_pulled_from_another_task_comes_back_with_its_numbers():
    from retrain.contracts import pull_result

    class TaskInstance:  # the one call a task instance answers here
        def xcom_pull(self, task_ids):
            return {"promote": None, "reject": {"promoted": False, "score": "NaN"}}.get(task_ids)

    outcome = pull_result(TaskInstance(), "promote", "reject")  # whichever of the two branches ran
    assert outcome["promoted"] is False and math.isnan(outcome["score"])
    assert pull_result(TaskInstance(), "promote") is None
