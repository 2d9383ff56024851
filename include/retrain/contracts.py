"""What a stage needs to know about the Airflow run it is part of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunInfo:
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
