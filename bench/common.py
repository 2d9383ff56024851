"""Shared by the benchmarks: the result row, sizes and timing helpers."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    name: str
    ours: float
    baseline: float
    unit: str
    goal: float | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
ROWS = int(200_000 * SCALE)  # rows through our loader and trainer
BASELINE_ROWS = int(20_000 * SCALE)  # the per-row baseline is slow; its samples/s does not depend on size
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Fastest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def alternate(a: Callable[[], object], b: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """Best wall time of each, interleaved so drift on the machine hits both, in a random order each round: in
    a fixed A B A B order one side always ran right after the other's teardown (seen: a 7% "overhead" that
    swapping the order moved to the other side)."""
    ta, tb = [], []
    order = random.Random(repeats)
    for _ in range(repeats):
        for fn, bucket in order.sample(((a, ta), (b, tb)), 2):
            started = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - started)
    return min(ta), min(tb)
