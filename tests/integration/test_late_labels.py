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
