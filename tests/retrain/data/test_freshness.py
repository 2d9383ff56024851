from datetime import UTC, date, datetime

import pytest
from retrain.config import DataSpec, FreshnessRule
from retrain.data.freshness import select_snapshot
from retrain.data.landing import list_complete_partitions, write_partition
from retrain.errors import DataReadError, StaleDataError
from retrain_demo.data import generate_day

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


def test_a_dataset_without_any_complete_partition_says_what_it_holds(tmp_path):
    at = datetime(2005, 9, 5, tzinfo=UTC)
    with pytest.raises(StaleDataError, match="the folder does not exist"):
        select_snapshot(RULE, tmp_path / "credit", at)
    (tmp_path / "credit").mkdir()
    with pytest.raises(StaleDataError, match="the folder is empty"):
        select_snapshot(RULE, tmp_path / "credit", at)
    # Hive-style folders under another key than the spec's prefix: the usual first mistake
    write_partition(generate_day(date(2005, 9, 4), 200), tmp_path / "credit", date(2005, 9, 4), prefix="date=")
    with pytest.raises(StaleDataError, match=r"1 folder\(s\) such as 'date=2005-09-04' but none named "
                                             r"'dt=YYYY-MM-DD' \(data.partition_prefix\)"):
        select_snapshot(RULE, tmp_path / "credit", at)
    write_partition(generate_day(date(2005, 9, 4), 200), tmp_path / "credit", date(2005, 9, 4), complete=False)
    hourly = write_partition(generate_day(date(2005, 9, 4), 20), tmp_path / "hourly", date(2005, 9, 4)).rename(
        tmp_path / "hourly" / "dt=2005-09-04-13")  # an hourly layout, marked complete: still not a day
    with pytest.raises(StaleDataError, match=r"its 1 folder\(s\) such as 'dt=2005-09-04-13' do not name a day: a "
                                             r"partition is one UTC day, 'dt=YYYY-MM-DD'"):
        select_snapshot(RULE, hourly.parent, at)
    with pytest.raises(StaleDataError, match="1 of its 1 partition folder\\(s\\) have no marker, e.g. 'dt=2005-09-04'"):
        select_snapshot(RULE, tmp_path / "credit", at)


def test_a_complete_partition_without_parquet_files_says_what_it_holds(dataset):
    folder = dataset / "dt=2026-11-21"
    (folder / "part-00000.parquet").rename(folder / "part-00000-c000")  # a writer that adds no suffix
    with pytest.raises(StaleDataError, match=r"holds no parquet file \(a name ending in \.parquet\); it holds "
                                             r"\['part-00000-c000'\]"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))


def test_corrupt_file_is_named(dataset):
    target = dataset / "dt=2026-11-21" / "part-00000.parquet"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(DataReadError, match=r"dt=2026-11-21/part-00000\.parquet: cannot read parquet footer"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))


# -- waiting for late data and announced partitions ------------------------------------------------------


def test_errors_say_whether_waiting_can_help(dataset, tmp_path):
    from retrain.data.freshness import LATE_REASONS

    with pytest.raises(StaleDataError) as too_old:
        select_snapshot(RULE, dataset, datetime(2026, 11, 24, 3, tzinfo=UTC))
    with pytest.raises(StaleDataError) as nothing:
        select_snapshot(RULE, tmp_path / "empty", datetime(2026, 11, 22, tzinfo=UTC))
    write_partition(generate_day(date(2026, 11, 21), 50), tmp_path / "small", date(2026, 11, 21))
    with pytest.raises(StaleDataError) as small:
        select_snapshot(RULE, tmp_path / "small", datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert too_old.value.reason in LATE_REASONS and nothing.value.reason in LATE_REASONS
    assert small.value.reason == "too_few_rows" and small.value.reason not in LATE_REASONS


def test_announced_partition_must_be_complete(dataset):
    from retrain.data.freshness import partition_end

    day = date(2026, 11, 22)
    write_partition(generate_day(day, 200), dataset, day, complete=False)
    with pytest.raises(StaleDataError, match=r"dt=2026-11-22: the announced partition exists but has no '_SUCCESS'") as err:
        select_snapshot(RULE, dataset, partition_end(day), required_day=day)
    assert err.value.reason == "incomplete_partition"
    # Without the announcement the same as_of trains on what is complete (the half-written day is never read).
    assert select_snapshot(RULE, dataset, partition_end(day)).newest_partition == "2026-11-21"
    write_partition(generate_day(day, 200), dataset, day)
    snap = select_snapshot(RULE, dataset, partition_end(day), required_day=day)
    assert snap.newest_partition == "2026-11-22" and snap.as_of == "2026-11-23T00:00:00+00:00"


def test_awaited_markers_are_the_days_young_enough_for_the_rule(tmp_path):
    from retrain.data.freshness import awaited_markers

    as_of = datetime(2026, 11, 22, 3, tzinfo=UTC)  # max_age 30 h: 2026-11-21 (3 h old) and -20 (27 h old)
    assert [m.relative_to(tmp_path).as_posix() for m in awaited_markers(RULE, tmp_path, as_of)] == [
        "dt=2026-11-21/_SUCCESS", "dt=2026-11-20/_SUCCESS",
    ]
    strict = DataSpec(location="x", freshness=FreshnessRule(max_age_hours=2, min_rows=1))
    assert awaited_markers(strict, tmp_path, as_of) == []  # yesterday is already 3 h old: nothing can help
    announced = awaited_markers(RULE, tmp_path, as_of, required_day=date(2026, 11, 22))
    assert [m.relative_to(tmp_path).as_posix() for m in announced] == ["dt=2026-11-22/_SUCCESS"]


def test_as_of_in_another_timezone_means_the_same_utc_days(dataset):
    from zoneinfo import ZoneInfo

    berlin = datetime(2026, 11, 22, 4, tzinfo=ZoneInfo("Europe/Berlin"))  # 03:00 UTC
    assert select_snapshot(RULE, dataset, berlin).fingerprint == select_snapshot(
        RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC)).fingerprint


def test_wait_minutes_defaults_to_an_hour_and_cannot_be_negative():
    from pydantic import ValidationError

    assert FreshnessRule(max_age_hours=1, min_rows=1).wait_minutes == 60
    with pytest.raises(ValidationError):
        FreshnessRule(max_age_hours=1, min_rows=1, wait_minutes=-1)


def test_files_that_disagree_with_the_manifest_are_not_read(dataset):
    from retrain.data.landing import mark_complete

    folder = dataset / "dt=2026-11-20"
    mark_complete(folder, rows=999, files=["part-00000.parquet"])  # e.g. a file replaced after the marker
    with pytest.raises(DataReadError, match=r"dt=2026-11-20: the '_SUCCESS' manifest declares 999 rows but the "
                                            r"parquet files hold 200"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))


def test_a_window_larger_than_a_worker_reads_is_refused_from_the_metadata(dataset, monkeypatch):
    monkeypatch.setenv("RETRAIN_MAX_WINDOW_ROWS", "500")
    with pytest.raises(DataReadError, match=r"training window dt=2026-11-19\.\.dt=2026-11-21 holds 600 rows, more than "
                                            r"RETRAIN_MAX_WINDOW_ROWS=500.*largest: dt=2026-11-19 with 200 rows"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC))
    monkeypatch.setenv("RETRAIN_MAX_WINDOW_ROWS", "600")
    assert select_snapshot(RULE, dataset, datetime(2026, 11, 22, 3, tzinfo=UTC)).total_rows == 600
