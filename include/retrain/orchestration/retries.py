"""Retries that fit the failure.

Every task retries 3 times with exponential backoff. Deterministic failures (retrain.errors.DeterministicFailure:
an invalid spec, a broken data contract, stale or unreadable data, a missing required GPU) fail at once
through Airflow's retry policy, because the same inputs would fail the same way again.
"""

from __future__ import annotations

from retrain.settings import get_settings

RETRIES = 3
BACKOFF_MULTIPLIER = 2.0


def retry_policy():
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception="retrain.errors.DeterministicFailure",
                action=RetryAction.FAIL,
                reason="deterministic failure: retrying with the same inputs cannot succeed",
            )
        ]
    )


def default_task_args() -> dict:
    settings = get_settings()
    return {
        "retries": RETRIES,
        "retry_delay": settings.retry_delay,
        "retry_exponential_backoff": BACKOFF_MULTIPLIER,
        "max_retry_delay": settings.max_retry_delay,
        "retry_policy": retry_policy(),
    }
