"""Block Kit building blocks that respect Slack's limits, so no alert is ever rejected for its size.

Pure functions, no Slack or Airflow imports. Limits from https://api.slack.com/reference/block-kit/blocks:
a message holds at most 50 blocks, a header 150 characters of plain text, a section 3,000 characters and
at most 10 fields of 2,000 each, a context at most 10 elements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

HEADER_LIMIT = 150
SECTION_TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
CONTEXT_TEXT_LIMIT = 2000
BLOCKS_PER_MESSAGE = 50
MESSAGE_TEXT_LIMIT = 39_000  # Slack truncates `text` at 40,000 characters

Block = dict[str, Any]


@dataclass(frozen=True)
class AlertMessage:
    """One Slack message: the plain-text fallback (notifications, screen readers) and its Block Kit blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(marker), 0)] + marker[:limit]


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_mrkdwn(text: str) -> str:
    """The alert as a person reads it outside Slack (the task log, `retrain run`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def code(text: str) -> str:
    """Inline code, safe for any text (backticks would end the span)."""
    return "`" + escape_mrkdwn(text).replace("`", "'") + "`"


def code_block(text: str) -> str:
    return "```" + escape_mrkdwn(text).replace("```", "'''") + "```"


def link(url: str | None, label: str) -> str:
    """An mrkdwn link, or the escaped label alone when there is no URL. ``|`` and ``>`` would end the link."""
    label = escape_mrkdwn(label).replace("|", "/")
    if not url:
        return label
    return f"<{url.replace('>', '%3E').replace('|', '%7C').replace(' ', '%20')}|{label}>"


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_LIMIT), "emoji": True}}


def section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(mrkdwn, SECTION_TEXT_LIMIT)}}


def fields(pairs: Iterable[tuple[str, str]]) -> list[Block]:
    """``*Name*\\nvalue`` fields (values are escaped here), ten to a section."""
    items = [
        {"type": "mrkdwn", "text": truncate(f"*{escape_mrkdwn(name)}*\n{escape_mrkdwn(value)}", FIELD_LIMIT)}
        for name, value in pairs
    ]
    return [
        {"type": "section", "fields": items[i : i + FIELDS_PER_SECTION]}
        for i in range(0, len(items), FIELDS_PER_SECTION)
    ]


def context(parts: Sequence[str], separator: str = " · ") -> Block:
    """One context line joining mrkdwn ``parts`` (already escaped by the caller)."""
    text = separator.join(p for p in parts if p) or " "
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, CONTEXT_TEXT_LIMIT)}]}


def bullet_section(title: str, lines: Sequence[str], limit: int = SECTION_TEXT_LIMIT) -> Block:
    """A section with a bold title and as many mrkdwn bullet ``lines`` as fit; the rest are counted."""
    head = f"*{escape_mrkdwn(title)}*"
    kept: list[str] = []
    used = len(head)
    for index, line in enumerate(lines):
        more = len(lines) - index
        tail = f"\n… and {more} more" if more > 1 else ""
        candidate = f"\n• {line}"
        if used + len(candidate) + len(tail) + 20 > limit:
            kept.append(f"… and {more} more")
            break
        kept.append(f"• {line}")
        used += len(candidate)
    return section("\n".join([head, *kept]))


def limit_blocks(blocks: list[Block], limit: int = BLOCKS_PER_MESSAGE) -> list[Block]:
    """At most ``limit`` blocks: the last one kept says how many were left out."""
    if len(blocks) <= limit:
        return blocks
    left_out = len(blocks) - (limit - 1)
    return [*blocks[: limit - 1], context([f"{left_out} more blocks left out (Slack allows {limit})"])]


def message(text: str, blocks: list[Block]) -> AlertMessage:
    # Slack parses the fallback as mrkdwn too: unescaped, "<!channel>" in an error would ping everyone.
    return AlertMessage(text=truncate(escape_mrkdwn(text), MESSAGE_TEXT_LIMIT), blocks=limit_blocks(blocks))
