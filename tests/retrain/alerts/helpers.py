"""Constants and helpers shared by the alert tests (kept out of conftest.py, which pytest discourages importing)."""

from __future__ import annotations

from retrain.alerts import DeliveryPolicy
from retrain.config import LoadedSpec

from tests.support.slack_standin import DEFAULT_TOKEN

TOKEN = DEFAULT_TOKEN
CONN_ENV = "AIRFLOW_CONN_SLACK_DEFAULT"

# Short waits keep retry tests fast; the bounds themselves are what is under test.
FAST_POLICY = DeliveryPolicy(
    timeout_seconds=2.0, max_retries=2, backoff_seconds=0.05, max_rate_limit_wait_seconds=2.0
)


def with_alerts(loaded: LoadedSpec, **alerts) -> LoadedSpec:
    """The spec with these ``alerts`` fields changed (``slack_channel``, ``notifiers``, ``deadline_minutes``)."""
    alerts = loaded.spec.alerts.model_copy(update=alerts)
    return LoadedSpec(spec=loaded.spec.model_copy(update={"alerts": alerts}), path=loaded.path, sha256=loaded.sha256)
