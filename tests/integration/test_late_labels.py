"""Labels that arrive two days after the features, graded out of time, as the window slides day by day.

In-process stage calls (tests/support/daily_runs.py) on a local MLflow and GX. Before each run the newest two
days land without labels and the day before them gets its labels, as a late label feed restates partitions.
With ``drop_unlabeled_rows`` those days hold no row, so the out-of-time holdout is the newest day that does,
and the gate still compares every candidate with the champion: no holdout row was in the champion's training
data, and the count the gate uses (from the champion's recorded partitions without rows) says so too.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pyarrow as pa
import pytest

from tests.support.daily_runs import run_day, small_daily_model

FIRST = date(2026, 6, 1)
DAYS = 9
WINDOW = 5
LAG = 2
ROWS = 300

pytestmark = pytest.mark.slow


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=DAYS, window=WINDOW, rows=ROWS)
    spec = loaded.spec
    data = spec.data.model_copy(update={"drop_unlabeled_rows": True, "holdout_newest_days": 1,
                                        "holdout_fraction": 0.1})
    return dataclasses.replace(loaded, spec=spec.model_copy(update={"data": data}))


def _land_labels_as_of(loaded, day: date) -> None:
    """Every partition up to ``day``; the newest ``LAG`` without labels, the others with theirs."""
    from retrain.data.landing import write_partition
    from retrain.settings import get_settings
    from retrain_demo.data import generate_day

    dataset = get_settings().resolve_data_path(loaded.spec.data.location)
    for offset in range(DAYS):
        landed = FIRST + timedelta(days=offset)
        table = generate_day(landed, ROWS)
        if landed > day - timedelta(days=LAG):
            for head in loaded.spec.heads:
                index = table.schema.get_field_index(head.label)
                table = table.set_column(index, table.schema.field(index), pa.nulls(ROWS, table.schema.field(index).type))
        write_partition(table, dataset, landed)


def test_late_labels_are_graded_out_of_time_and_the_champion_fairly(loaded):
    from retrain.data.freshness import DataSnapshot
    from retrain.data.split import PARTITION_COLUMN, PARTITIONS_WITHOUT_ROWS_TAG
    from retrain.pipeline.training_stage import load_split
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    champion_trained_on: set | None = None
    promotions = 0
    for offset in range(WINDOW - 1, DAYS):
        day = FIRST + timedelta(days=offset)
        _land_labels_as_of(loaded, day)
        result = run_day(loaded, day, f"scheduled__{day}")
        assert "blocked" not in result, result.get("blocked")
        run = client.get_run(result["trained"]["run_id"])
        unlabeled = [f"dt={day - timedelta(days=i)}" for i in reversed(range(LAG))]
        assert run.data.tags[PARTITIONS_WITHOUT_ROWS_TAG] == ",".join(unlabeled)

        train, holdout = load_split(loaded.spec, DataSnapshot.from_dict(result["snapshot"]))
        newest_labeled = f"dt={day - timedelta(days=LAG)}"
        assert newest_labeled in set(holdout.column(PARTITION_COLUMN).to_pylist())  # graded out of time
        assert newest_labeled not in set(train.column(PARTITION_COLUMN).to_pylist())
        assert run.data.metrics["gate.champion_seen_holdout_rows"] == 0, result["decision"]["reasons"]
        if champion_trained_on is not None:
            assert not champion_trained_on & set(holdout.column("event_id").to_pylist())
            assert not any("in the champion's training data" in r for r in result["decision"]["reasons"])
        if result["promoted"]:
            promotions += 1
            champion_trained_on = set(train.column("event_id").to_pylist())
    assert promotions >= 1


def test_a_head_whose_label_lands_later_does_not_hold_back_the_others(loaded):
    """Two heads, two label lags: clicks are known the same day, dwell times two days later (the README's
    churn and 90-day revenue have the same shape). Each head learns and is judged on the rows that hold its
    own label; a row with no label at all is the only one dropped. It used to drop every row missing any label,
    so the newest days trained neither head."""
    import math

    from retrain.data.freshness import DataSnapshot
    from retrain.data.landing import write_partition
    from retrain.data.split import PARTITION_COLUMN, PARTITIONS_WITHOUT_ROWS_TAG
    from retrain.pipeline.training_stage import load_split
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store
    from retrain_demo.data import generate_day

    dataset = get_settings().resolve_data_path(loaded.spec.data.location)
    day = FIRST + timedelta(days=WINDOW - 1)
    newest = {day - timedelta(days=i) for i in range(LAG)}
    for offset in range(WINDOW):
        landed = FIRST + timedelta(days=offset)
        table = generate_day(landed, ROWS)
        if landed in newest:  # the dwell label is not known yet; the click label is
            index = table.schema.get_field_index("dwell_seconds")
            table = table.set_column(index, table.schema.field(index), pa.nulls(ROWS, table.schema.field(index).type))
        if landed == FIRST:  # and a few rows of the first day have no label at all
            for label in ("dwell_seconds", "click"):
                index = table.schema.get_field_index(label)
                values = table.column(index).to_pylist()
                table = table.set_column(index, table.schema.field(index),
                                         pa.array([None] * 7 + values[7:], table.schema.field(index).type))
        write_partition(table, dataset, landed)

    result = run_day(loaded, day, "manual__late_head")
    assert "blocked" not in result, result.get("blocked")
    run = mlflow_store.connect(get_settings()).get_run(result["trained"]["run_id"])
    assert PARTITIONS_WITHOUT_ROWS_TAG not in run.data.tags  # every day trained the click head
    train, holdout = load_split(loaded.spec, DataSnapshot.from_dict(result["snapshot"]))
    assert train.num_rows + holdout.num_rows == WINDOW * ROWS - 7  # only the rows with no label at all left out
    newest_names = {f"dt={d}" for d in newest}
    assert newest_names & set(train.column(PARTITION_COLUMN).to_pylist())

    evaluation = result["evaluation"]
    dwell_labeled = holdout.num_rows - holdout.column("dwell_seconds").null_count
    assert 0 < dwell_labeled < holdout.num_rows
    assert evaluation["candidate"]["dwell"]["labeled_rows"] == dwell_labeled  # judged on its own labels only
    assert "labeled_rows" not in evaluation["candidate"]["click"]  # every holdout row has a click label
    assert all(math.isfinite(v) for head in evaluation["candidate"].values() for v in head.values())
