"""The durable outbox on its own: order, bounds, stop-at-first-failure, crash leftovers, concurrent processes."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from retrain.alerts.outbox import MAX_ATTEMPTS, Outbox, OutboxEntry, outbox_path


def _entry(i: int, channel: str = "#a") -> OutboxEntry:
    return OutboxEntry(channel=channel, text=f"alert {i}", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"b{i}"}}])


def test_location_from_env_or_local_state(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RETRAIN_SLACK_OUTBOX", str(tmp_path / "x.jsonl"))
    assert outbox_path() == tmp_path / "x.jsonl"
    monkeypatch.delenv("RETRAIN_SLACK_OUTBOX")
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    assert outbox_path() == tmp_path / "state" / "slack-outbox" / "outbox.jsonl"


def test_append_writes_one_json_line_per_alert_with_its_fields(tmp_path) -> None:
    box = Outbox(tmp_path / "o" / "outbox.jsonl")
    box.append(_entry(1))
    box.append(OutboxEntry(channel="#b", text="two", blocks=None, last_error="HTTP 500"))
    lines = (tmp_path / "o" / "outbox.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"channel", "text", "blocks", "created_at", "id", "attempts", "last_error"}
    assert first["channel"] == "#a" and first["text"] == "alert 1" and first["blocks"][0]["type"] == "section"
    assert [e.text for e in box.entries()] == ["alert 1", "two"]
    assert (tmp_path / "o" / "outbox.jsonl").stat().st_mode & 0o777 == 0o600


def test_flush_sends_oldest_first_and_removes_what_was_delivered(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    for i in range(5):
        box.append(_entry(i))
    sent = []
    result = box.flush(lambda e: (sent.append(e.text), ("delivered", None))[1], max_messages=3)
    assert sent == ["alert 0", "alert 1", "alert 2"]
    assert (result.delivered, result.remaining, result.stopped_on_failure) == (3, 2, False)
    assert [e.text for e in box.entries()] == ["alert 3", "alert 4"]


def test_flush_stops_at_the_first_failure_and_counts_the_attempt(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    for i in range(4):
        box.append(_entry(i))
    calls = []

    def send(entry):
        calls.append(entry.text)
        return ("failed", "HTTP 500") if entry.text == "alert 1" else ("delivered", None)

    result = box.flush(send)
    assert calls == ["alert 0", "alert 1"], "nothing is tried after the first failure"
    assert result.stopped_on_failure and result.delivered == 1 and result.remaining == 3
    head = box.entries()[0]
    assert (head.text, head.attempts, head.last_error) == ("alert 1", 2, "HTTP 500")


def test_dropped_entries_go_to_the_dead_letter_file(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    box.append(_entry(0, channel="#gone"))
    box.append(_entry(1))
    result = box.flush(lambda e: ("dropped", "channel_not_found") if e.channel == "#gone" else ("delivered", None))
    assert result.remaining == 0 and result.delivered == 1
    dead = [json.loads(line) for line in (tmp_path / "outbox.jsonl.dead").read_text().splitlines()]
    assert [(d["channel"], d["last_error"]) for d in dead] == [("#gone", "channel_not_found")]


def test_an_entry_failing_too_often_moves_to_the_dead_letter_file(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    box.append(OutboxEntry(channel="#a", text="stuck", attempts=MAX_ATTEMPTS - 1))
    box.append(_entry(1))
    box.flush(lambda e: ("failed", "HTTP 500"))
    assert [e.text for e in box.entries()] == ["alert 1"]
    assert "stuck" in (tmp_path / "outbox.jsonl.dead").read_text()


def test_should_continue_bounds_the_flush(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    for i in range(5):
        box.append(_entry(i))
    budget = iter([True, True, False])
    result = box.flush(lambda e: ("delivered", None), should_continue=lambda: next(budget))
    assert result.delivered == 2 and result.remaining == 3


def test_a_torn_last_line_does_not_swallow_the_next_entry(tmp_path) -> None:
    path = tmp_path / "outbox.jsonl"
    box = Outbox(path)
    box.append(_entry(0))
    with path.open("a") as handle:  # a crash in the middle of an append
        handle.write('{"channel": "#a", "text": "half')
    box.append(_entry(1))
    assert [e.text for e in box.entries()] == ["alert 0", "alert 1"]
    assert '"half' in (tmp_path / "outbox.jsonl.corrupt").read_text()
    assert [e.text for e in box.entries()] == ["alert 0", "alert 1"], "the corrupt line was moved out once"


def test_a_flush_already_running_elsewhere_is_skipped_not_waited_for(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    box.append(_entry(0))
    inside, release = threading.Event(), threading.Event()

    def slow_send(entry):
        inside.set()
        release.wait(5)
        return "delivered", None

    first = threading.Thread(target=box.flush, args=(slow_send,))
    first.start()
    try:
        assert inside.wait(5)
        second = Outbox(tmp_path / "outbox.jsonl").flush(lambda e: pytest.fail("sent twice"))
        assert second.skipped_busy
        Outbox(tmp_path / "outbox.jsonl").append(_entry(1))  # appends never wait on a flush
    finally:
        release.set()
        first.join(5)
    assert [e.text for e in box.entries()] == ["alert 1"]


# -- many processes at once -----------------------------------------------------------------------------------


def _appender(path: str, worker: int, count: int) -> None:
    box = Outbox(path)
    for i in range(count):
        box.append(OutboxEntry(channel="#a", text=f"w{worker}-{i}", blocks=[{"type": "divider"}] * 20))


def _flusher(path: str, out: str, rounds: int) -> None:
    box = Outbox(path)
    with open(out, "a") as handle:
        for _ in range(rounds):
            box.flush(lambda e: (handle.write(e.text + "\n"), handle.flush(), ("delivered", None))[2], max_messages=7)


def test_concurrent_appends_and_flushes_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    path, sent_file = str(tmp_path / "outbox.jsonl"), tmp_path / "sent.txt"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_appender, args=(path, w, 60)) for w in range(6)]
    flushers = [ctx.Process(target=_flusher, args=(path, str(sent_file), 40)) for _ in range(2)]
    for p in workers + flushers:
        p.start()
    for p in workers + flushers:
        p.join(60)
        assert p.exitcode == 0
    sent = sent_file.read_text().splitlines() if sent_file.exists() else []
    left = [e.text for e in Outbox(path).entries()]
    expected = {f"w{w}-{i}" for w in range(6) for i in range(60)}
    assert len(sent) == len(set(sent)), "an alert was sent twice"
    assert set(sent) | set(left) == expected and not set(sent) & set(left), "an alert was lost or duplicated"
    assert not (tmp_path / "outbox.jsonl.corrupt").exists()
    for w in range(6):  # each writer's alerts keep their order
        mine = [t for t in sent + left if t.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(60)]
