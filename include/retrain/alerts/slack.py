"""Delivering alerts to Slack through the Airflow Slack API connection, without ever stopping the pipeline.

The connection is the standard Airflow one (conn type ``slack``, id from ``RETRAIN_SLACK_CONN_ID``,
default ``slack_default``): the bot token in ``password``, optionally ``base_url`` and ``timeout`` in
``extra``. Delivery goes through the provider's ``SlackHook`` and its slack-sdk ``WebClient``, with
retry handlers attached explicitly (slack-sdk's are opt-in) and every wait bounded by a
:class:`DeliveryPolicy`, so a slow or broken Slack costs a task seconds, not hours.

``send_alert`` never raises. Not configured: the alert text goes to the task log at WARNING. Slack
failing: one ERROR line naming the connection; the alert text follows at INFO. The token is never
logged.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retrain.alerts.messages import (
    DEFAULT_CHANNEL,
    MESSAGE_TEXT_LIMIT,
    failure_channel,
    failure_report_from_context,
    format_failure_blocks,
    format_failure_text,
    truncate,
)

log = logging.getLogger(__name__)

_REDACTED = "***"


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

    def worst_case_seconds(self) -> float:
        waits = sum(
            max(self.max_rate_limit_wait_seconds, self.backoff_seconds * 2**n * 1.1) + 0.25
            for n in range(self.max_retries)
        )
        return (self.max_retries + 1) * self.timeout_seconds + waits


DEFAULT_POLICY = DeliveryPolicy()


# -- retry handlers ---------------------------------------------------------------------------------------


def _retry_handlers(policy: DeliveryPolicy) -> list:
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


class _SdkLogger(logging.Logger):
    """The WebClient's logger. slack-sdk logs each failed attempt at ERROR, even when the retry then
    succeeds; those go to DEBUG here, and :func:`send_alert` reports the outcome once."""

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("exc_info", None)
        self.debug(msg, *args, **kwargs)


def _sdk_logger() -> logging.Logger:
    logger = _SdkLogger(f"{__name__}.sdk")
    logger.parent = log
    return logger


# -- delivery ---------------------------------------------------------------------------------------------


class _NotConfigured(Exception):
    pass


class _Misconfigured(Exception):
    pass


def _redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, _REDACTED)
    return text


def _connection_settings(conn, policy: DeliveryPolicy) -> tuple[float, str | None]:
    """The timeout (connection value, capped by the policy) and base_url (with the trailing slash slack-sdk
    needs: it joins URLs with urljoin, so ``.../api`` would silently lose the ``api`` segment)."""
    from airflow.providers.slack.utils import ConnectionExtraConfig

    extra = ConnectionExtraConfig(conn_type="slack", conn_id=conn.conn_id, extra=conn.extra_dejson)
    timeout = policy.timeout_seconds
    try:
        conn_timeout = extra.get("timeout", default=None)
        if conn_timeout not in (None, ""):
            timeout = min(float(conn_timeout), policy.timeout_seconds)
    except (TypeError, ValueError):
        pass
    base_url = extra.get("base_url", default=None)
    if base_url and not str(base_url).endswith("/"):
        base_url = f"{base_url}/"
    return timeout, base_url


def _client(conn_id: str, policy: DeliveryPolicy):
    """The slack-sdk WebClient of an Airflow SlackHook for ``conn_id``, with bounded retries and timeout."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.providers.slack.hooks.slack import SlackHook

    try:
        conn = SlackHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise _NotConfigured from exc
    if not conn.password:
        raise _Misconfigured("the connection has no Slack API token (the `password` field is empty)")
    timeout, base_url = _connection_settings(conn, policy)
    hook = SlackHook(
        slack_conn_id=conn_id,
        timeout=timeout,  # type: ignore[arg-type]  # urllib takes float seconds
        base_url=base_url,
        retry_handlers=_retry_handlers(policy),
        logger=_sdk_logger(),
    )
    return hook.client, conn.password


def _describe_failure(exc: BaseException) -> str:
    """A one-line reason for an undelivered alert, from the error code or type (never from request data)."""
    from slack_sdk.errors import SlackApiError, SlackRequestError

    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None)
        code = None
        try:
            code = response.get("error") if response is not None else None
        except Exception:
            code = None
        if status == 429:
            return "rate limited by Slack (HTTP 429), retries used up or Retry-After too long"
        if status is not None and status >= 500:
            return f"Slack server error (HTTP {status}), retries used up"
        if code and len(str(code)) <= 100:
            return f"Slack API error {code!r} (HTTP {status})"
        return f"Slack API error (HTTP {status})"
    if isinstance(exc, TimeoutError):
        return "Slack did not answer in time (timeout)"
    if isinstance(exc, SlackRequestError):
        return f"invalid Slack request: {exc}"
    if isinstance(exc, OSError):
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            return "Slack did not answer in time (timeout)"
        return f"cannot reach Slack: {type(reason).__name__}: {reason}"
    return f"{type(exc).__name__}: {exc}"


def send_alert(
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    policy: DeliveryPolicy | None = None,
    conn_id: str | None = None,
) -> bool:
    """Post ``text`` (and optional Block Kit ``blocks``) to ``channel``. True when Slack accepted it.

    Never raises. Returns False, with the reason in the task log, when the Slack connection does not
    exist (the alert text is logged at WARNING instead) or Slack cannot take the message (one ERROR line
    naming the connection). ``conn_id`` defaults to ``retrain.settings.get_settings().slack_conn_id``.
    """
    policy = policy or DEFAULT_POLICY
    channel = channel or DEFAULT_CHANNEL
    text = truncate(text or "", MESSAGE_TEXT_LIMIT)
    token: str | None = None
    try:
        if conn_id is None:
            from retrain.settings import get_settings

            conn_id = get_settings().slack_conn_id
        try:
            client, token = _client(conn_id, policy)
        except _NotConfigured:
            log.warning(
                "Slack is not configured (no Airflow connection %r); alert for %s not sent:\n%s",
                conn_id,
                channel,
                text,
            )
            return False

        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        if response.get("ok"):
            log.info("Slack alert delivered to %s via connection %r", channel, conn_id)
            return True
        reason = f"Slack answered ok=false ({response.get('error')!r})"  # validate() normally raises first
    except _Misconfigured as exc:
        reason = str(exc)
    except Exception as exc:
        try:
            reason = _describe_failure(exc)
        except Exception:
            reason = type(exc).__name__
    log.error(
        "Slack alert to %s NOT delivered via Airflow connection %r: %s",
        channel,
        conn_id,
        _redact(truncate(reason, 300), token),
    )
    log.info("Undelivered alert text:\n%s", _redact(text, token))
    return False


def task_failure_callback(context: Mapping[str, Any]) -> None:
    """Airflow ``on_failure_callback``: post the failed task's DAG, task, run, try, error and log link.

    Goes to ``params["slack_channel"]`` (default ``#ml-alerts``). Never raises, whatever the context holds.
    """
    try:
        from retrain.settings import get_settings

        try:
            base_url: str | None = get_settings().airflow_base_url
        except Exception:
            base_url = None
        report = failure_report_from_context(context, airflow_base_url=base_url)
        send_alert(failure_channel(context), format_failure_text(report), format_failure_blocks(report))
    except Exception as exc:  # a failure alert must never add a failure of its own
        log.error("Could not build or send the task failure alert: %s: %s", type(exc).__name__, exc)
