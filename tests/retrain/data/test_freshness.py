from datetime import UTC, date, datetime

import pytest
from retrain.config import DataSpec, FreshnessRule
from retrain.data.demo import generate_day
from retrain.data.freshness import select_snapshot
from retrain.data.landing import list_complete_partitions, write_partition
from retrain.errors import DataReadError, StaleDataError

RULE = DataSpec(location="x", training_window_days=3, freshness=FreshnessRule(max_age_hours=30, min_rows=100))


@pytest.fixture
def dataset(tmp_path):
    for day in (18, 19, 20, 21):
        write_partition(generate_day(date(2026, 11, day), 200), tmp_path, date(2026, 11, day))
    return tmp_path


def test_window_is_read_by_interval_not_wall_clock(dataset):
    snap = select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert [p[-10:] for p in snap.partitions] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert snap.newest_partition == "2026-11-21" and snap.total_rows == 600
    # An earlier interval sees earlier data, and a rerun of an interval sees the same fingerprint.
    earlier = select_snapshot(RULE, dataset, datetime(2026, 11, 21, 3, tzinfo=UTC))
    assert earlier.newest_partition == "2026-11-20"
    again = select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert again.fingerprint == snap.fingerprint != earlier.fingerprint


def test_stale_data_names_partition_and_age(dataset):
    with pytest.raises(StaleDataError, match=r"dt=2026-11-21: newest partition is 51\.0 h old.*allowed 30 h"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 24, 3, tzinfo=UTC))


def test_half_written_partition_is_ignored(dataset):
    write_partition(generate_day(date(2026, 11, 22), 200), dataset, date(2026, 11, 22), complete=False)
    assert [p.day.day for p in list_complete_partitions(dataset)] == [18, 19, 20, 21]
    snap = select_snapshot(RULE, dataset, datetime(2026, 11, 23, 3, tzinfo=UTC))
    assert snap.newest_partition == "2026-11-21"


def test_too_few_rows(tmp_path):
    write_partition(generate_day(date(2026, 11, 21), 50), tmp_path, date(2026, 11, 21))
    with pytest.raises(StaleDataError, match="has 50 rows, fewer than the required 100"):
        select_snapshot(RULE, tmp_path, datetime(2026, 11, 22, 3, tzinfo=UTC))


def test_no_data_at_all(tmp_path):
    with pytest.raises(StaleDataError, match="no complete partition in the training window"):
        select_snapshot(RULE, tmp_path, datetime(2026, 11, 22, tzinfo=UTC))


def test_corrupt_file_is_named(dataset):
    target = dataset / "dt=2026-11-21" / "part-00000.parquet"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(DataReadError, match=r"dt=2026-11-21/part-00000\.parquet: cannot read parquet footer"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))
