"""Triggers that run on Airflow's triggerer, so a task waiting for data holds no worker slot.

The triggerer imports this module by its class path; keep it light (no pandas, torch, mlflow, pyarrow).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

ARRIVED = "arrived"
TIMED_OUT = "timed_out"


class PartitionMarkerTrigger(BaseTrigger):
    """Fires once any of ``markers`` exists (a partition's completion marker), or when ``deadline`` passes.

    The deadline is absolute (an ISO timestamp), so a restarted triggerer resumes the same wait instead of
    starting it over. The timeout is an event rather than Airflow's trigger timeout, so the task decides
    what a timeout means (stale data) and says so in its own words.
    """

    def __init__(self, markers: list[str], deadline: str, poll_seconds: float = 60.0) -> None:
        super().__init__()
        self.markers = [str(m) for m in markers]
        self.deadline = deadline
        self.poll_seconds = float(poll_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"markers": self.markers, "deadline": self.deadline, "poll_seconds": self.poll_seconds},
        )

    def _found(self) -> str | None:
        return next((m for m in self.markers if os.path.isfile(m)), None)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        polls = 0
        while True:
            found = await asyncio.to_thread(self._found)  # a network file system may block
            polls += 1
            if found is not None:
                self.log.info("completion marker %s is there after %d polls", found, polls)
                yield TriggerEvent({"status": ARRIVED, "marker": found, "polls": polls})
                return
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                self.log.info("no completion marker by %s (%d polls): %s", self.deadline, polls, self.markers)
                yield TriggerEvent({"status": TIMED_OUT, "polls": polls})
                return
            await asyncio.sleep(min(self.poll_seconds, remaining))
