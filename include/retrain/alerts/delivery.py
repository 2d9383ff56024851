"""How long one Slack alert may take: the delivery policy and the slack-sdk retry handlers that enforce it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from retrain.alerts.outbox import MAX_FLUSH


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long one alert may take, at most.

    Worst case for one alert is roughly ``(max_retries + 1) * timeout_seconds`` plus the waits between
    attempts (each at most ``max_rate_limit_wait_seconds`` for 429s, ``backoff_seconds * 2**n`` (+10%)
    for 5xx and connection errors): about 53 s with the defaults. Read timeouts are not retried, so a
    message Slack accepted but answered slowly is not posted twice.
    """

    timeout_seconds: float = 10.0
    """Per HTTP attempt. A ``timeout`` in the connection extra is honoured when it is smaller."""
    max_retries: int = 2
    """Retries after the first attempt, shared by rate-limit, server-error and connection-error retries."""
    backoff_seconds: float = 0.5
    """Base of the exponential backoff for 5xx answers and connection errors."""
    max_rate_limit_wait_seconds: float = 10.0
    """A 429 asking to wait longer than this is not retried: the alert is reported as undelivered."""
    max_flush: int = MAX_FLUSH
    """At most this many waiting outbox alerts are resent before the new one."""
    flush_budget_seconds: float = 20.0
    """No further outbox alert is started once flushing has taken this long."""

    def worst_case_seconds(self) -> float:
        """The longest one message can take (all attempts and the waits between them)."""
        waits = sum(
            max(self.max_rate_limit_wait_seconds, self.backoff_seconds * 2**n * 1.1) + 0.25
            for n in range(self.max_retries)
        )
        return (self.max_retries + 1) * self.timeout_seconds + waits

    def worst_case_total_seconds(self) -> float:
        """The longest one ``send_alert`` call can take: the flush budget, plus the outbox message started
        just before it ran out, plus the new message (about two minutes with the defaults)."""
        flush = self.flush_budget_seconds + self.worst_case_seconds() if self.max_flush > 0 else 0.0
        return flush + self.worst_case_seconds()


DEFAULT_POLICY = DeliveryPolicy()


def retry_handlers(policy: DeliveryPolicy) -> list:
    """slack-sdk retry handlers with bounded attempts and bounded waits."""
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
    from slack_sdk.http_retry.jitter import Jitter

    class SmallJitter(Jitter):
        """Up to +10% (slack-sdk's default adds up to a whole second to every wait)."""

        def recalculate(self, duration: float) -> float:
            return duration * (1.0 + random.random() * 0.1)

    class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
        """Honours Retry-After, but gives up instead of waiting longer than the policy allows.

        slack-sdk's own handler sleeps for whatever Retry-After says, however long that is.
        """

        def _retry_after(self, response) -> float:
            for name, values in (response.headers or {}).items():
                if name.lower() == "retry-after":
                    value = values[0] if isinstance(values, list | tuple) else values
                    try:
                        return max(float(value), 0.0)
                    except (TypeError, ValueError):
                        break
            return 1.0

        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            if response is None or response.status_code != 429:
                return False
            return self._retry_after(response) <= policy.max_rate_limit_wait_seconds

        def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
            if response is None:
                raise error  # type: ignore[misc]
            state.next_attempt_requested = True
            time.sleep(self._retry_after(response) + random.random() * 0.25)
            state.increment_current_attempt()

    backoff = BackoffRetryIntervalCalculator(backoff_factor=policy.backoff_seconds, jitter=SmallJitter())
    retries = max(policy.max_retries, 0)
    return [
        BoundedRateLimitHandler(max_retry_count=retries),
        ServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        ConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
    ]
