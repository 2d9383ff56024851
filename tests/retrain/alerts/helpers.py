"""Constants shared by the alert tests (kept out of conftest.py, which pytest discourages importing)."""

from __future__ import annotations

from retrain.alerts import DeliveryPolicy

from tests.support.slack_standin import DEFAULT_TOKEN

TOKEN = DEFAULT_TOKEN
CONN_ENV = "AIRFLOW_CONN_SLACK_DEFAULT"

# Short waits keep retry tests fast; the bounds themselves are what is under test.
FAST_POLICY = DeliveryPolicy(
    timeout_seconds=2.0, max_retries=2, backoff_seconds=0.05, max_rate_limit_wait_seconds=2.0
)
