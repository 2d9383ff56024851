"""What stages hand each other: typed results, passed between Airflow tasks by XCom as ``model_dump()``.

Each is small (ids, versions, scores), never data or models. Unknown keys are kept, so a stage that adds a
field does not break the stages downstream of it. A score can be NaN (roc_auc of a slice with one class) and
Airflow's Execution API takes only standard JSON, so results travel through ``to_xcom`` and ``from_xcom``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class RunInfo:
    """What a stage needs to know about the Airflow run it is part of."""

    dag_id: str
    run_id: str
    try_number: int
    as_of: datetime  # end of the data interval: the point in time the run trains "as of"

    def tags(self) -> dict[str, str]:
        return {
            "airflow.dag_id": self.dag_id,
            "airflow.run_id": self.run_id,
            "airflow.try_number": str(self.try_number),
            "retrain.as_of": self.as_of.isoformat(),
        }


class StageResult(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class TrainedCandidate(StageResult):
    """train: the MLflow run and the logged model."""

    run_id: str
    experiment_id: str
    model_uri: str


class Evaluation(StageResult):
    """evaluate: the challenger's version and its scores, and the champion's, on the same holdout rows."""

    candidate: dict[str, dict[str, float]]
    champion: dict[str, dict[str, float]] | None = None
    champion_version: str | None = None
    challenger_version: str
    significance: dict = Field(default_factory=dict)
    slices: dict = Field(default_factory=dict)
    holdout_rows: int | None = None
    notes: list[str] = Field(default_factory=list)  # shown beside the decision (summary, Slack)


class Decision(StageResult):
    """gate: promote or not, the checks and their reasons (``retrain.tracking.gate.GateDecision.to_dict``)."""

    promote: bool
    champion_version: str | None = None
    reasons: list[str] = Field(default_factory=list)
    checks: list[dict] = Field(default_factory=list)


class Outcome(StageResult):
    """promote or reject: whether the champion moved, and the champion version after the stage."""

    promoted: bool
    version: str | None = None
    previous_champion: str | None = None
    reasons: list[str] = Field(default_factory=list)


# How a non-finite score travels: the spelling JavaScript and pandas use for it.
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_xcom(value):
    """``value`` with every NaN or infinite number written as "NaN", "Infinity" or "-Infinity", and the NUL
    character (which PostgreSQL's JSONB, where Airflow keeps XComs, refuses) shown as U+FFFD in text."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {to_xcom(key): to_xcom(item) for key, item in value.items()}
    if type(value) in (list, tuple):  # a named tuple or a lazy XCom sequence is left as it is
        return type(value)(to_xcom(item) for item in value)
    return value


def pull_result(ti, *task_ids: str):
    """The result of the first of ``task_ids`` that returned one, read back by ``from_xcom``; None when none did.
    For a task that reads another's result without taking it as an argument (``stage_task`` decodes those)."""
    for task_id in task_ids:
        value = ti.xcom_pull(task_ids=task_id)
        if value:
            return from_xcom(value)
    return None


def from_xcom(value):
    """What ``to_xcom`` wrote, with the numbers back; anything else (a lazy XCom sequence too) as it is."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {key: from_xcom(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(from_xcom(item) for item in value)
    return value
