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

import logging
import time
from typing import Any, Literal

from retrain.alerts.blockkit import MESSAGE_TEXT_LIMIT, truncate
from retrain.alerts.delivery import DEFAULT_POLICY, DeliveryPolicy
from retrain.alerts.messages import DEFAULT_CHANNEL
from retrain.alerts.outbox import Outbox, OutboxEntry, outbox_path
from retrain.alerts.slack_client import Misconfigured, NotConfigured, connect, post, redact, redact_blocks
from retrain.alerts.slack_errors import Delivery, describe_failure

log = logging.getLogger(__name__)


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


def _flush(outbox: Outbox, client, token: str | None, policy: DeliveryPolicy, conn_id: str) -> Delivery | None:
    """Resend waiting alerts first (bounded). Returns the failure that stopped the flush, if any."""
    if policy.max_flush <= 0:
        return None
    started = time.monotonic()
    stopped: list[Delivery] = []

    def send(entry: OutboxEntry) -> tuple[str, str | None]:
        result = post(client, entry.channel, entry.text, entry.blocks, token)
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
            client, token = connect(conn_id, policy)
        except NotConfigured:
            from retrain.alerts.blockkit import unescape_mrkdwn

            log.warning("Slack is not configured (no Airflow connection %r); alert for %s not sent:\n%s",
                        conn_id, channel, unescape_mrkdwn(text))
            return False
        text, blocks = redact(text, token), redact_blocks(blocks, token)
        box = _resolve_outbox(outbox)
        still_failing = None
        if box is not None:
            try:
                still_failing = _flush(box, client, token, policy, conn_id)
            except Exception as exc:  # a broken outbox must not stop this alert
                log.warning("Slack outbox %s could not be flushed: %s: %s", box.path, type(exc).__name__, exc)
        if still_failing is not None:
            result = Delivery(False, f"{still_failing.reason} (while resending queued alerts)", still_failing.kind)
        else:
            result = post(client, channel, text, blocks, token)
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
    except Misconfigured as exc:
        reason = str(exc)
        box = box or _resolve_outbox(outbox)
        where = _queue(box, channel, text, blocks, reason)
    except Exception as exc:
        try:
            reason = describe_failure(exc)
        except Exception:
            reason = type(exc).__name__
        try:
            where = _queue(box or _resolve_outbox(outbox), channel, text, blocks, reason)
        except Exception:
            where = "the alert text follows"
    log.error("Slack alert to %s NOT delivered via Airflow connection %r: %s; %s",
              channel, conn_id, redact(truncate(reason, 300), token), where)
    log.info("Undelivered alert text:\n%s", redact(text, token))
    return False
