"""What stages hand each other: typed results, passed between Airflow tasks by XCom as ``model_dump()``.

Each is small (ids, versions, scores), never data or models. Unknown keys are kept, so a stage that adds a
field does not break the stages downstream of it.
"""

from __future__ import annotations

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
