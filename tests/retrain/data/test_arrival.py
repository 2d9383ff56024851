"""Data events: only complete partitions are announced, and a run reads the partition its events name."""

from datetime import date

import pytest
from retrain.data.arrival import (
    BadAssetEventError,
    IncompletePartitionError,
    announced_days,
    partition_event_extra,
)
from retrain.data.landing import write_partition
from retrain_demo.data import generate_day

DAY = date(2026, 11, 21)


def test_complete_partition_is_announced_with_its_manifest(tmp_path):
    write_partition(generate_day(DAY, 40), tmp_path, DAY)
    assert partition_event_extra(tmp_path, DAY) == {
        "partition": "2026-11-21", "rows": 40, "files": ["part-00000.parquet"],
    }


def test_half_written_partition_is_refused(tmp_path):
    write_partition(generate_day(DAY, 40), tmp_path, DAY, complete=False)
    with pytest.raises(IncompletePartitionError, match=r"dt=2026-11-21 has no '_SUCCESS' marker.*never announced"):
        partition_event_extra(tmp_path, DAY)


def test_missing_partition_is_refused(tmp_path):
    with pytest.raises(IncompletePartitionError, match="does not exist"):
        partition_event_extra(tmp_path, DAY)


def test_announced_days_are_distinct_sorted_and_skip_events_without_a_partition():
    extras = [{"partition": "2026-11-21"}, {"partition": "dt=2026-11-20", "from_rest_api": True},
              {"partition": "2026-11-21"}, {}, None, {"from_rest_api": True}]
    assert announced_days(extras) == [date(2026, 11, 20), DAY]
    assert announced_days([]) == []


def test_a_malformed_partition_fails_the_run_with_a_message():
    with pytest.raises(BadAssetEventError, match="partition='last tuesday' is not a day partition"):
        announced_days([{"partition": "last tuesday"}])
