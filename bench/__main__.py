"""Run every benchmark and print one table: ours, the baseline, the ratio and the goal.

Each benchmark measures our code and its baseline in the same process, alternating and keeping the best
of a few repeats, so a noisy shared machine affects both sides alike. Sizes are small enough for the whole
run to take a few minutes on two cores; ``BENCH_SCALE`` (default 1.0) scales the row counts.

    python -m bench            # all benchmarks
    python -m bench loader     # only those whose name contains "loader"
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
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
    from retrain.data.demo import generate_demo_data

    days = 4
    folders = generate_demo_data(root, date(2026, 1, 31), days=days, rows_per_day=ROWS // days)
    return sorted(f for folder in folders for f in folder.glob("*.parquet"))


def main(argv: list[str]) -> int:
    from bench import data_path, training

    wanted = argv[0] if argv else ""
    print(f"machine: {machine()}", flush=True)
    print(f"rows: {ROWS:,} (per-row baseline {BASELINE_ROWS:,}), best of {REPEATS}", flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        files = write_data(Path(tmp) / "data")
        for name, bench in [*data_path.BENCHMARKS, *training.BENCHMARKS]:
            if wanted in name:
                started = time.perf_counter()
                result = bench(files, Path(tmp))
                print(f"  {name} done in {time.perf_counter() - started:.1f}s", flush=True)
                results.append(result)
        if wanted in ("", "segments"):
            from bench import segments

            started = time.perf_counter()
            results.extend(segments.run(Path(tmp)))
            print(f"  segments done in {time.perf_counter() - started:.1f}s", flush=True)
        if "segments_scheduler" in wanted:  # opt-in: starts a whole Airflow and takes minutes
            from bench import segments_scheduler

            results.extend(segments_scheduler.run(Path(tmp)))
    print()
    print(table(results))
    return 0


def table(results: list[Result]) -> str:
    header = f"| {'benchmark':<48} | {'ours':>14} | {'baseline':>14} | {'unit':<10} | {'ratio':>8} | {'goal':>6} | met |"
    lines = [header, "|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|"]
    for r in results:
        goal = f"≥{r.goal:g}×" if r.goal is not None else ""
        met = "" if r.goal is None else ("yes" if r.ratio >= r.goal else "NO")
        lines.append(
            f"| {r.name:<48} | {r.ours:>14,.1f} | {r.baseline:>14,.1f} | {r.unit:<10} | {r.ratio:>7.2f}× | {goal:>6} | {met:<3} |"
        )
        if r.note:
            lines.append(f"|   {r.note}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
