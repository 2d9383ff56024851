"""What a failed Slack call means: transient (retry, queue), auth (fix the connection) or message (never
deliverable), and a one-line reason that never quotes request data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Slack API errors that concern one message, not Slack or the connection: resending it can never work.
MESSAGE_ERRORS = frozenset(
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
AUTH_ERRORS = frozenset(
    {
        "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
        "missing_scope", "not_allowed_token_type", "org_login_required", "ekm_access_denied",
        "team_access_not_granted", "access_denied", "two_factor_setup_required", "enterprise_is_restricted",
    }
)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    reason: str | None = None
    kind: Literal["ok", "transient", "auth", "message"] = "ok"
    """``transient``: Slack failing or unreachable; ``auth``: fix the connection; ``message``: never deliverable."""


def _api_error_code(response) -> str | None:
    try:
        return response.get("error") if response is not None else None
    except Exception:
        return None


def classify(exc: BaseException) -> Literal["transient", "auth", "message"]:
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        code = _api_error_code(exc.response)
        if code in AUTH_ERRORS:
            return "auth"
        if code in MESSAGE_ERRORS:
            return "message"
    return "transient"


def describe_failure(exc: BaseException) -> str:
    """A one-line reason for an undelivered alert, from the error code or type (never from request data)."""
    from slack_sdk.errors import SlackApiError, SlackRequestError

    if isinstance(exc, SlackApiError):
        response = exc.response
        status, code = getattr(response, "status_code", None), _api_error_code(response)
        if status == 429:
            return "rate limited by Slack (HTTP 429), retries used up or Retry-After too long"
        if status is not None and status >= 500:
            return f"Slack server error (HTTP {status}), retries used up"
        if code in AUTH_ERRORS:
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
