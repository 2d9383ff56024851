"""The Slack client: a slack-sdk ``WebClient`` from the Airflow Slack connection (via the provider's
``SlackHook``), bounded by a :class:`~retrain.alerts.delivery.DeliveryPolicy`, and one ``chat.postMessage``
that never raises. The token is redacted from everything posted or reported."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from retrain.alerts.blockkit import truncate
from retrain.alerts.delivery import DeliveryPolicy, retry_handlers
from retrain.alerts.slack_errors import Delivery, classify, describe_failure

log = logging.getLogger(__name__)

REDACTED = "***"


class SdkLogger(logging.Logger):
    """The WebClient's logger. slack-sdk logs each failed attempt at ERROR, even when the retry then
    succeeds; those go to DEBUG here, and :func:`send_alert` reports the outcome once."""

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("exc_info", None)
        self.debug(msg, *args, **kwargs)


def sdk_logger() -> logging.Logger:
    logger = SdkLogger(f"{__name__}.sdk")
    logger.parent = log
    return logger


class NotConfigured(Exception):
    pass


class Misconfigured(Exception):
    pass


def redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, REDACTED)
    return text


def redact_blocks(blocks: list[dict[str, Any]] | None, secret: str | None) -> list[dict[str, Any]] | None:
    if not blocks or not secret:
        return blocks
    encoded = json.dumps(blocks)
    if secret not in encoded:
        return blocks
    return json.loads(encoded.replace(secret, REDACTED))


def connection_settings(conn, policy: DeliveryPolicy) -> tuple[float, str | None]:
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


def connect(conn_id: str, policy: DeliveryPolicy):
    """The slack-sdk WebClient of an Airflow SlackHook for ``conn_id``, with bounded retries and timeout."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.providers.slack.hooks.slack import SlackHook

    try:
        conn = SlackHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise NotConfigured from exc
    if not conn.password:
        raise Misconfigured("the connection has no Slack API token (the `password` field is empty)")
    timeout, base_url = connection_settings(conn, policy)
    hook = SlackHook(
        slack_conn_id=conn_id,
        timeout=timeout,  # type: ignore[arg-type]  # urllib takes float seconds
        base_url=base_url,
        retry_handlers=retry_handlers(policy),
        logger=sdk_logger(),
    )
    return hook.client, conn.password


def post(client, channel: str, text: str, blocks: list[dict[str, Any]] | None, token: str | None) -> Delivery:
    """One ``chat.postMessage`` (with the client's bounded retries). Never raises."""
    try:
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        if response.get("ok"):
            return Delivery(True)
        reason = f"Slack answered ok=false ({response.get('error')!r})"  # validate() normally raises first
        kind: Literal["transient", "auth", "message"] = "transient"
    except Exception as exc:
        try:
            reason, kind = describe_failure(exc), classify(exc)
        except Exception:
            reason, kind = type(exc).__name__, "transient"
    return Delivery(False, redact(truncate(reason, 300), token), kind)
