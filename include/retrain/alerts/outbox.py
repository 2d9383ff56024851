"""A durable outbox for Slack alerts that could not be delivered: an alert is never silently lost.

When Slack is still failing after the bounded retries, :func:`retrain.alerts.send_alert` appends the message
to a JSON-lines file; the next ``send_alert`` call (any task, any DAG sharing the file) first resends what
waits there, oldest first, at most ``max_messages`` of them, and stops at the first failure so a Slack
that is still down costs one bounded attempt, not one per waiting message.

Location: ``RETRAIN_SLACK_OUTBOX`` (a file path), else ``<RETRAIN_LOCAL_STATE>/slack-outbox/outbox.jsonl``.
Several task processes may append and flush at the same time (LocalExecutor, Celery workers on one host
or on a shared POSIX filesystem), so every change to the file happens under an exclusive ``fcntl.flock`` on
a sibling ``.lock`` file, and only one process flushes at a time (a second ``.flush.lock``, taken without
waiting: a busy outbox is skipped, never waited for). The file is only ever appended to or replaced
atomically, so a crash leaves either the old or the new contents.

Entries hold channel, text, blocks, created_at, attempts and the last delivery error; never a token.
A corrupt line (a torn write from a crash mid-append) is moved to ``<outbox>.corrupt`` rather than dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_DIR = "slack-outbox"
DEFAULT_FILE = "outbox.jsonl"
MAX_FLUSH = 20
"""Default bound on how many waiting alerts one notification resends before its own."""
MAX_ATTEMPTS = 100
"""An alert that failed this many flushes moves to the ``.dead`` file (still on disk, and logged)."""


@dataclass(frozen=True)
class OutboxEntry:
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempts: int = 1
    last_error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> OutboxEntry:
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
            raise ValueError("not an outbox entry")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class FlushResult:
    delivered: int = 0
    remaining: int = 0
    skipped_busy: bool = False
    """Another process was flushing; this call resent nothing."""
    stopped_on_failure: bool = False


def outbox_path() -> Path:
    """Where the outbox lives: ``RETRAIN_SLACK_OUTBOX``, else under the settings' local state folder."""
    from retrain.settings import get_settings

    settings = get_settings()
    return settings.slack_outbox or settings.local_state / DEFAULT_DIR / DEFAULT_FILE


class Outbox:
    """The outbox file at ``path``; every method is safe to call from concurrent processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._flush_lock_path = self.path.with_name(self.path.name + ".flush.lock")
        self._corrupt_path = self.path.with_name(self.path.name + ".corrupt")

    # -- locking ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, lock_path: Path, *, wait: bool = True) -> Iterator[bool]:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- reading and writing (callers hold the data lock) ---------------------------------------------------

    def _read_unlocked(self) -> list[OutboxEntry]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries, corrupt = [], []
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                entries.append(OutboxEntry.from_json(line))
            except (ValueError, TypeError):
                corrupt.append(line)
        if corrupt:
            with self._corrupt_path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(corrupt) + "\n")
            log.error("Slack outbox %s: %d unreadable line(s) moved to %s", self.path, len(corrupt), self._corrupt_path)
            self._write_unlocked(entries)
        return entries

    def _write_unlocked(self, entries: list[OutboxEntry]) -> None:
        """Replace the file atomically (write a temporary file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for entry in entries:
                    handle.write(entry.to_json() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # -- public ---------------------------------------------------------------------------------------------

    def append(self, entry: OutboxEntry) -> None:
        """Add one undelivered alert (a single append + fsync under the lock)."""
        with self._locked(self._lock_path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = (entry.to_json() + "\n").encode("utf-8")
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a torn last line (crash mid-write) must not swallow this entry
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        """Keep an alert Slack will never take (e.g. ``channel_not_found``) out of the queue, on record."""
        Outbox(self.path.with_name(self.path.name + ".dead")).append(
            OutboxEntry(**{**asdict(entry), "last_error": reason})
        )

    def entries(self) -> list[OutboxEntry]:
        with self._locked(self._lock_path):
            return self._read_unlocked()

    def __len__(self) -> int:
        return len(self.entries())

    def flush(
        self,
        send: Callable[[OutboxEntry], tuple[str, str | None]],
        max_messages: int = MAX_FLUSH,
        should_continue: Callable[[], bool] = lambda: True,
    ) -> FlushResult:
        """Resend up to ``max_messages`` waiting alerts, oldest first; stop at the first one that fails.

        ``send`` returns ``(outcome, reason)`` with outcome ``"delivered"``, ``"dropped"`` (Slack will never
        take this message, e.g. ``channel_not_found``: it moves to the ``.dead`` file and the flush goes on)
        or ``"failed"`` (Slack is failing: the entry stays at the head with its attempt count raised, and
        the flush stops). ``should_continue`` is asked before each send (a time budget). An entry that has
        failed ``MAX_ATTEMPTS`` times moves to the ``.dead`` file, so one alert cannot block the queue forever.

        Network calls happen outside the data lock, so appends from other tasks never wait on Slack; a
        concurrent flush is skipped rather than waited for.
        """
        with self._locked(self._flush_lock_path, wait=False) as acquired:
            if not acquired:
                return FlushResult(skipped_busy=True, remaining=-1)
            with self._locked(self._lock_path):
                batch = self._read_unlocked()[: max(max_messages, 0)]
            done: set[str] = set()
            delivered = 0
            failed: tuple[str, str | None] | None = None
            for entry in batch:
                if not should_continue():
                    break
                outcome, reason = send(entry)
                if outcome == "delivered":
                    delivered += 1
                    done.add(entry.id)
                elif outcome == "dropped":
                    self.dead_letter(entry, reason or "rejected by Slack")
                    done.add(entry.id)
                else:
                    failed = (entry.id, reason)
                    break
            with self._locked(self._lock_path):
                current = self._read_unlocked()
                if done or failed:
                    kept = []
                    for entry in current:
                        if entry.id in done:
                            continue
                        if failed and entry.id == failed[0]:
                            entry = OutboxEntry(
                                **{**asdict(entry), "attempts": entry.attempts + 1, "last_error": failed[1]}
                            )
                            if entry.attempts >= MAX_ATTEMPTS:
                                log.error(
                                    "Slack outbox: alert %s for %s failed %d times, moved to %s.dead: %s",
                                    entry.id, entry.channel, entry.attempts, self.path.name, entry.text,
                                )
                                self.dead_letter(entry, failed[1] or "too many attempts")
                                continue
                        kept.append(entry)
                    self._write_unlocked(kept)
                    current = kept
            return FlushResult(delivered=delivered, remaining=len(current), stopped_on_failure=bool(failed))
