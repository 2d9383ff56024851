"""Run every benchmark and print one table: ours, the baseline, the ratio and the goal.

Each benchmark measures our code and its baseline in the same process, alternating and keeping the best
of a few repeats, so a noisy shared machine affects both sides alike. Sizes are small enough for the whole
run to take a few minutes on two cores; ``BENCH_SCALE`` (default 1.0) scales the row counts.

    python -m bench                       # all benchmarks except the opt-in ones
    python -m bench loader                # only those whose name contains "loader"
    python -m bench loader validation     # several names
    python -m bench segments_scheduler    # opt-in: a real Airflow (scheduler, LocalExecutor, ...), minutes
    python -m bench specs_scheduler       # opt-in: many spec DAGs triggered together on a real Airflow, minutes

Names: loader_vs_per_row, loader_vs_memcpy, batching_vs_memcpy, loader_vs_pyarrow, trainer_vs_hand_loop, trainer_checkpoints,
mlflow_on_vs_off, accounting_overhead, tuning_trial_overhead, segments, validation, parsing, and (opt-in) segments_scheduler,
specs_scheduler. An opt-in benchmark runs only when
an argument matches it and no default benchmark (``segments`` runs the in-process one, not the scheduler one).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bench.common import BASELINE_ROWS, REPEATS, ROWS, Result


def machine() -> str:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"nproc={os.cpu_count()}, {cpu}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"{gpu}, Python {platform.python_version()}")


def write_data(root: Path) -> list[Path]:
    from retrain_demo.data import generate_demo_data

    days = 4
    folders = generate_demo_data(root, date(2026, 1, 31), days=days, rows_per_day=ROWS // days)
    return sorted(f for folder in folders for f in folder.glob("*.parquet"))


def _segments(files: list[Path], tmp: Path) -> list[Result]:
    from bench import segments

    return segments.run(tmp)


def _segments_scheduler(files: list[Path], tmp: Path) -> list[Result]:
    from bench import segments_scheduler

    return segments_scheduler.run(tmp)


def _specs_scheduler(files: list[Path], tmp: Path) -> list[Result]:
    from bench import specs_scheduler

    return specs_scheduler.run(tmp)


def _parsing(files: list[Path], tmp: Path) -> list[Result]:
    from bench import parsing

    return parsing.run(tmp)


def _validation(files: list[Path], tmp: Path) -> list[Result]:
    from bench import validation

    return validation.run()


def benchmarks() -> list[tuple[str, Callable[[list[Path], Path], Result | list[Result]], bool]]:
    """(name, runner, opt_in), in the order they run."""
    from bench import costs, data_path, training

    return [
        *((name, fn, False) for name, fn in [*data_path.BENCHMARKS, *training.BENCHMARKS]),
        *((name, fn, False) for name, fn in costs.BENCHMARKS),
        ("segments", _segments, False),
        ("validation", _validation, False),
        ("parsing", _parsing, False),
        ("segments_scheduler", _segments_scheduler, True),
        ("specs_scheduler", _specs_scheduler, True),
    ]


def select(argv: list[str], names: list[tuple[str, bool]]) -> list[str]:
    """The benchmark names to run: every default one without arguments; otherwise those an argument is part
    of, opt-in ones only for an argument that matches no default benchmark. Unknown names raise ValueError."""
    if not argv:
        return [name for name, opt_in in names if not opt_in]
    chosen: set[str] = set()
    for wanted in argv:
        matches = [(name, opt_in) for name, opt_in in names if wanted in name]
        if not matches:
            raise ValueError(f"no benchmark matches {wanted!r}; names: {', '.join(n for n, _ in names)}")
        defaults = [name for name, opt_in in matches if not opt_in]
        chosen.update(defaults or [name for name, _ in matches])
    return [name for name, _ in names if name in chosen]


def main(argv: list[str]) -> int:
    registry = benchmarks()
    try:
        chosen = select(argv, [(name, opt_in) for name, _, opt_in in registry])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"machine: {machine()}", flush=True)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min) at start",
          flush=True)
    print(f"running: {', '.join(chosen)}", flush=True)
    print(f"rows: {ROWS:,} (per-row baseline {BASELINE_ROWS:,}), best of {REPEATS}", flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        files = write_data(Path(tmp) / "data") if any(n in chosen for n in _NEED_FILES) else []
        for name, bench, _ in registry:
            if name in chosen:
                started = time.perf_counter()
                result = bench(files, Path(tmp))
                print(f"  {name} done in {time.perf_counter() - started:.1f}s", flush=True)
                results.extend(result if isinstance(result, list) else [result])
    print()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min) at end")
    print(table(results))
    return 0


_NEED_FILES = ("loader_vs_per_row", "loader_vs_memcpy", "batching_vs_memcpy", "loader_vs_pyarrow", "trainer_vs_hand_loop",
               "trainer_checkpoints", "mlflow_on_vs_off", "accounting_overhead",
               "tuning_trial_overhead")


def table(results: list[Result]) -> str:
    header = f"| {'benchmark':<48} | {'ours':>14} | {'baseline':>14} | {'unit':<10} | {'ratio':>8} | {'goal':>6} | met |"
    lines = [header, "|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|"]
    for r in results:
        goal = f"≥{r.goal:.3g}×" if r.goal is not None else ""
        met = "" if r.goal is None else ("yes" if r.ratio >= r.goal else "NO")
        lines.append(
            f"| {r.name:<48} | {r.ours:>14,.1f} | {r.baseline:>14,.1f} | {r.unit:<10} | {r.ratio:>7.2f}× | {goal:>6} | {met:<3} |"
        )
        if r.note:
            lines.append(f"|   {r.note}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
