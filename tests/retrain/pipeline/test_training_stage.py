"""The spec's ``training.seed`` reaches training: the same seed reproduces a run's losses, another changes them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import torch
from retrain.config import load_spec
from retrain.data import split
from retrain.pipeline.training_stage import build_and_fit
from retrain_demo.data import generate_day

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"


def test_training_seed_reproduces_a_loss_and_another_seed_changes_it():
    spec = load_spec(SPEC).spec
    table = generate_day(date(2026, 6, 1), 600)
    table = table.append_column(split.PARTITION_COLUMN, pa.array(["dt=2026-06-01"] * table.num_rows))
    train, holdout = split.split(table, split.rule_for(spec), ["dt=2026-06-01"])

    def losses(seed: int) -> list[tuple[float, float | None]]:
        training = spec.training.model_copy(update={"epochs": 2, "seed": seed, "device": "cpu"})
        _, history = build_and_fit(spec.model_copy(update={"training": training}), train, holdout,
                                   torch.device("cpu"))
        return [(r.train_loss, r.holdout_loss) for r in history]

    first = losses(1)
    assert losses(1) == first
    assert losses(2) != first


def test_a_small_table_in_big_batches_is_told_it_took_few_steps():
    from retrain.pipeline.training_stage import FEW_STEPS, too_few_steps

    # 3,067 rows at the default 1,024 a batch for 5 epochs: 15 steps, and a batch size that gives 100+
    note = too_few_steps(3067, 1024, 5)
    assert note.startswith("the candidate took only 15 optimizer steps (3,067 training rows in batches of 1,024")
    suggested = int(note.split("(e.g. ")[1].split(")")[0])
    assert -(-3067 // suggested) * 5 >= FEW_STEPS
    assert too_few_steps(100_000, 1024, 5) is None  # 490 steps


def test_data_warnings_are_lines_a_person_reads_and_a_tag_postgresql_takes():
    from retrain.pipeline.training_stage import data_warnings

    warnings = [{"expectation": "expect_column_values_to_be_in_set", "column": "device",
                 "observed": "2 unexpected values, e.g. ['smart\x00tv']"},
                {"expectation": "retrain_drift_not_checked", "column": "price", "observed": "no champion yet"},
                *({"expectation": "retrain_schema_consistent", "column": None, "observed": f"change {i}"} for i in range(6))]
    lines = data_warnings({"warnings": warnings})
    assert lines[0] == "expect_column_values_to_be_in_set on device: 2 unexpected values, e.g. ['smart\ufffdtv']"
    assert lines[1] == "retrain_schema_consistent: change 0"  # drift-not-checked has its own line elsewhere
    assert len(lines) == 6 and lines[-1] == "... and 2 more (validation/report.json)"
