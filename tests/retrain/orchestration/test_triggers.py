"""The trigger that watches the landing zone on the triggerer: fires on the marker, or at its deadline."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from retrain.orchestration.triggers import ARRIVED, TIMED_OUT, PartitionMarkerTrigger


async def _first_event(trigger, timeout=30):
    async def first():
        async for event in trigger.run():
            return event.payload

    return await asyncio.wait_for(first(), timeout)


def _deadline(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_fires_once_the_marker_lands(tmp_path):
    marker = tmp_path / "dt=2026-11-21" / "_SUCCESS"
    trigger = PartitionMarkerTrigger([str(tmp_path / "dt=2026-11-22" / "_SUCCESS"), str(marker)], _deadline(60), 0.05)

    def land():
        marker.parent.mkdir()
        marker.write_text("{}")

    timer = threading.Timer(0.3, land)
    timer.start()
    try:
        event = asyncio.run(_first_event(trigger))
    finally:
        timer.cancel()
    assert event["status"] == ARRIVED and event["marker"] == str(marker) and event["polls"] > 1


def test_a_folder_without_its_marker_does_not_fire(tmp_path):
    (tmp_path / "dt=2026-11-21").mkdir()
    (tmp_path / "dt=2026-11-21" / "part-00000.parquet").write_bytes(b"half")
    trigger = PartitionMarkerTrigger([str(tmp_path / "dt=2026-11-21" / "_SUCCESS")], _deadline(0.5), 0.05)
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == TIMED_OUT and event["polls"] > 1


def test_serializes_to_its_own_class_path_and_back(tmp_path):
    trigger = PartitionMarkerTrigger([str(tmp_path / "m")], "2026-11-22T03:00:00+00:00", 5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "retrain.orchestration.triggers.PartitionMarkerTrigger"
    from airflow.sdk.module_loading import import_string

    again = import_string(classpath)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
