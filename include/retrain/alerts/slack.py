"""Delivering alerts to Slack through the Airflow Slack API connection, without ever stopping the pipeline.

The connection is the standard Airflow one (conn type ``slack``, id from ``RETRAIN_SLACK_CONN_ID``,
default ``slack_default``): the bot token in ``password``, optionally ``base_url`` and ``timeout`` in
``extra``. Delivery goes through the provider's ``SlackHook`` and its slack-sdk ``WebClient``, with
retry handlers attached explicitly (slack-sdk's are opt-in) and every wait bounded by a
:class:`DeliveryPolicy`, so a slow or broken Slack costs a task seconds, not hours.

``send_alert`` never raises. Not configured (no connection): the alert text goes to the task log at
WARNING. Slack failing after the retries: one ERROR line naming the connection, and the alert goes to the
durable outbox (:mod:`retrain.alerts.outbox`), which the next ``send_alert`` resends first. The token is
never logged, and is redacted from every message before it is posted, queued or logged.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from retrain.alerts.data_messages import build_failure_message
from retrain.alerts.messages import (
    DEFAULT_CHANNEL,
    MESSAGE_TEXT_LIMIT,
    failure_channel,
    failure_report_from_context,
    truncate,
)
from retrain.alerts.outbox import MAX_FLUSH, Outbox, OutboxEntry, outbox_path

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


def _redact_blocks(blocks: list[dict[str, Any]] | None, secret: str | None) -> list[dict[str, Any]] | None:
    if not blocks or not secret:
        return blocks
    encoded = json.dumps(blocks)
    if secret not in encoded:
        return blocks
    return json.loads(encoded.replace(secret, _REDACTED))


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


# Slack API errors that concern one message, not Slack or the connection: resending it can never work.
_MESSAGE_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks",
        "invalid_blocks_format", "too_many_attachments", "invalid_arguments", "invalid_arg_name",
        "invalid_array_arg", "invalid_charset", "invalid_form_data", "invalid_post_type", "restricted_action",
        "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel", "cannot_reply_to_message", "messages_tab_disabled",
        "duplicate_channel_not_found", "duplicate_message_not_found", "too_many_contact_cards",
        "metadata_too_large", "invalid_metadata_format", "invalid_metadata_schema",
    }
)
# Errors that mean the token or the app is wrong: every message fails until someone fixes the connection.
_AUTH_ERRORS = frozenset(
    {
        "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
        "missing_scope", "not_allowed_token_type", "org_login_required", "ekm_access_denied",
        "team_access_not_granted", "access_denied", "two_factor_setup_required", "enterprise_is_restricted",
    }
)


@dataclass(frozen=True)
class _Delivery:
    ok: bool
    reason: str | None = None
    kind: Literal["ok", "transient", "auth", "message"] = "ok"
    """``transient``: Slack failing or unreachable; ``auth``: fix the connection; ``message``: never deliverable."""


def _classify(exc: BaseException) -> Literal["transient", "auth", "message"]:
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        try:
            code = exc.response.get("error") if exc.response is not None else None
        except Exception:
            code = None
        if code in _AUTH_ERRORS:
            return "auth"
        if code in _MESSAGE_ERRORS:
            return "message"
    return "transient"


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
        if code in _AUTH_ERRORS:
            return f"Slack rejected the connection's token: API error {code!r} (HTTP {status}); fix the token"
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


def _post(client, channel: str, text: str, blocks: list[dict[str, Any]] | None, token: str | None) -> _Delivery:
    """One ``chat.postMessage`` (with the client's bounded retries). Never raises."""
    try:
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        if response.get("ok"):
            return _Delivery(True)
        reason = f"Slack answered ok=false ({response.get('error')!r})"  # validate() normally raises first
        kind: Literal["transient", "auth", "message"] = "transient"
    except Exception as exc:
        try:
            reason, kind = _describe_failure(exc), _classify(exc)
        except Exception:
            reason, kind = type(exc).__name__, "transient"
    return _Delivery(False, _redact(truncate(reason, 300), token), kind)


def _resolve_outbox(outbox: Outbox | None | Literal[False]) -> Outbox | None:
    if outbox is False:
        return None
    if outbox is not None:
        return outbox
    try:
        return Outbox(outbox_path())
    except Exception as exc:
        log.error("Slack outbox unavailable (%s: %s); undelivered alerts only go to the log", type(exc).__name__, exc)
        return None


def _flush(outbox: Outbox, client, token: str | None, policy: DeliveryPolicy, conn_id: str) -> _Delivery | None:
    """Resend waiting alerts first (bounded). Returns the failure that stopped the flush, if any."""
    if policy.max_flush <= 0:
        return None
    started = time.monotonic()
    stopped: list[_Delivery] = []

    def send(entry: OutboxEntry) -> tuple[str, str | None]:
        result = _post(client, entry.channel, entry.text, entry.blocks, token)
        if result.ok:
            return "delivered", None
        if result.kind == "message":
            log.error(
                "Queued Slack alert %s for %s can never be delivered via connection %r (%s); moved to the "
                "dead-letter file. Its text:\n%s", entry.id, entry.channel, conn_id, result.reason, entry.text,
            )
            return "dropped", result.reason
        stopped.append(result)
        return "failed", result.reason

    result = outbox.flush(
        send,
        max_messages=policy.max_flush,
        should_continue=lambda: time.monotonic() - started < policy.flush_budget_seconds,
    )
    if result.delivered:
        log.info(
            "Slack outbox: %d queued alert(s) delivered via connection %r, %d still waiting",
            result.delivered, conn_id, result.remaining,
        )
    return stopped[0] if stopped else None


def _queue(outbox: Outbox | None, channel: str, text: str, blocks, reason: str | None) -> str:
    """Put an undelivered alert in the outbox; returns how the log line should end."""
    if outbox is None:
        return "no outbox, the alert text follows"
    try:
        outbox.append(OutboxEntry(channel=channel, text=text, blocks=blocks, last_error=reason))
    except Exception as exc:
        return f"could not queue it in the outbox ({type(exc).__name__}: {exc}), the alert text follows"
    return f"queued in the Slack outbox {outbox.path} and resent with the next alert"


def send_alert(
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    policy: DeliveryPolicy | None = None,
    conn_id: str | None = None,
    outbox: Outbox | None | Literal[False] = None,
) -> bool:
    """Post ``text`` (and optional Block Kit ``blocks``) to ``channel``. True when Slack accepted it.

    Never raises, and returns within ``policy.worst_case_total_seconds()``. First resends what waits in the
    outbox (``outbox``: default the file from :func:`retrain.alerts.outbox.outbox_path`; ``False``: none),
    oldest first and bounded; if Slack is still failing, the new alert joins the queue without another
    attempt. Returns False, with one ERROR line naming the connection, when Slack cannot take the message;
    the alert is then in the outbox (or, for a message Slack will never take, such as an unknown channel,
    in the outbox's dead-letter file). Without a Slack connection the alert text is logged at WARNING and
    nothing is queued. ``conn_id`` defaults to ``retrain.settings.get_settings().slack_conn_id``.
    """
    policy = policy or DEFAULT_POLICY
    channel = channel or DEFAULT_CHANNEL
    text = truncate(text or "", MESSAGE_TEXT_LIMIT)
    token: str | None = None
    box: Outbox | None = None
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
        text, blocks = _redact(text, token), _redact_blocks(blocks, token)
        box = _resolve_outbox(outbox)
        still_failing = None
        if box is not None:
            try:
                still_failing = _flush(box, client, token, policy, conn_id)
            except Exception as exc:  # a broken outbox must not stop this alert
                log.warning("Slack outbox %s could not be flushed: %s: %s", box.path, type(exc).__name__, exc)
        if still_failing is not None:
            result = _Delivery(False, f"{still_failing.reason} (while resending queued alerts)", still_failing.kind)
        else:
            result = _post(client, channel, text, blocks, token)
        if result.ok:
            log.info("Slack alert delivered to %s via connection %r", channel, conn_id)
            return True
        if result.kind == "message":
            where = "not queued: Slack will never take this message, the alert text follows"
            if box is not None:
                try:
                    box.dead_letter(OutboxEntry(channel=channel, text=text, blocks=blocks), result.reason or "")
                    where = "kept in the outbox's dead-letter file, the alert text follows"
                except Exception:
                    pass
        else:
            where = _queue(box, channel, text, blocks, result.reason)
        reason = result.reason or "unknown reason"
    except _Misconfigured as exc:
        reason = str(exc)
        box = box or _resolve_outbox(outbox)
        where = _queue(box, channel, text, blocks, reason)
    except Exception as exc:
        try:
            reason = _describe_failure(exc)
        except Exception:
            reason = type(exc).__name__
        try:
            where = _queue(box or _resolve_outbox(outbox), channel, text, blocks, reason)
        except Exception:
            where = "the alert text follows"
    log.error(
        "Slack alert to %s NOT delivered via Airflow connection %r: %s; %s",
        channel,
        conn_id,
        _redact(truncate(reason, 300), token),
        where,
    )
    log.info("Undelivered alert text:\n%s", _redact(text, token))
    return False


def _airflow_base_url() -> str | None:
    try:
        from retrain.settings import get_settings

        return get_settings().airflow_base_url
    except Exception:
        return None


def task_failure_callback(context: Mapping[str, Any]) -> None:
    """Airflow ``on_failure_callback``: post the failed task's DAG, task, model, run, try, cause and links.

    The layout follows the error: a broken data contract (expectations, columns, partition, Data Docs),
    stale data (newest partition, its age and the age allowed), or any other failure. Goes to
    ``params["slack_channel"]`` (default ``#ml-alerts``). Never raises, whatever the context holds.
    """
    try:
        error = context.get("exception") if isinstance(context, Mapping) else None
        if getattr(error, "digest_sent", False):  # a fan-out report: its digest already named the failures
            log.info("No failure alert: the run's digest already reported it (%s)", error)
            return
        report = failure_report_from_context(context, airflow_base_url=_airflow_base_url())
        alert = build_failure_message(report, error)
        send_alert(failure_channel(context), alert.text, alert.blocks)
    except Exception as exc:  # a failure alert must never add a failure of its own
        log.error("Could not build or send the task failure alert: %s: %s", type(exc).__name__, exc)
