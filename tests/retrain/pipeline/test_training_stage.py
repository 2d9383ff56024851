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
