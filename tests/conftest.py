"""Test-wide isolation: every session gets its own Airflow home, MLflow store and data root.

Set before Airflow or MLflow is imported, so no test touches a developer's .airflow/ or .local/.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="retrain-tests-"))
os.environ["AIRFLOW_HOME"] = str(_SESSION_ROOT / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["RETRAIN_LOCAL_STATE"] = str(_SESSION_ROOT / "state")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_ROOT / 'state' / 'mlflow' / 'mlflow.db'}"
os.environ.pop("AIRFLOW_CONN_SLACK_DEFAULT", None)
