"""The retrain checks next to GX: row count against the previous partition, event times in their day, one schema."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from retrain.validation.checks import (
    EventTimeWithinPartition,
    PartitionRows,
    RowCountVsPrevious,
    partition_day,
    run_checks,
    schema_drift,
)


def _parts(*rows: int) -> list:
    folders = [f"/data/x/dt=2026-11-{20 + i:02d}" for i in range(len(rows))]
    starts = [sum(rows[:i]) for i in range(len(rows))]
    return [PartitionRows(f, partition_day(f), start, n) for f, start, n in zip(folders, starts, rows, strict=True)]


@pytest.mark.parametrize(("rows", "problem"), [
    ((1000, 1400), None),
    ((1000, 600), None),
    ((1000, 1600), "+60.0% against 1000 in dt=2026-11-20"),
    ((1000, 0), "has 0 rows, -100.0%"),
    ((1000,), None),  # a single partition has nothing to compare with
])
def test_row_count_against_the_previous_partition(rows, problem):
    check = RowCountVsPrevious(check="row_count_vs_previous", max_change_pct=50)
    [(_, found)] = run_checks(pd.DataFrame(), [check], _parts(*rows))
    if problem is None:
        assert found is None
    else:
        assert problem in found and "at most +-50% allowed" in found


def test_event_times_outside_their_partition_day_are_counted_and_quoted():
    check = EventTimeWithinPartition(check="event_time_within_partition", column="event_time")
    times = pd.to_datetime(["2026-11-20T00:00:00Z", "2026-11-20T23:59:59Z", "2026-11-21T00:00:00Z",
                            "2026-11-21T12:00:00Z", "2026-11-19T08:00:00Z", None], utc=True)
    frame = pd.DataFrame({"event_time": times})
    [(_, found)] = run_checks(frame, [check], _parts(3, 3))
    # row 2 (2026-11-21) sits in the 20th's partition, row 4 (the 19th) in the 21st's; the null is not counted.
    assert found.startswith("2 of 5 values (40.00%) lie outside their partition's UTC day")
    assert "2026-11-21T00:00:00+00:00" in found and "2026-11-19T08:00:00+00:00" in found


def test_event_time_check_names_a_missing_column():
    check = EventTimeWithinPartition(check="event_time_within_partition", column="event_time")
    [(_, found)] = run_checks(pd.DataFrame({"x": [1]}), [check], _parts(1))
    assert found == "column 'event_time' is missing from the data"


def test_schema_drift_names_the_file_and_what_changed(tmp_path: Path):
    base = pa.table({"price": [1.0], "device": ["ios"], "clicks": [1]})
    changed = pa.table({"price": ["1.0"], "device_type": ["ios"], "clicks": [1]})
    files = []
    for day, table in (("dt=2026-11-20", base), ("dt=2026-11-21", changed)):
        (tmp_path / day).mkdir()
        pq.write_table(table, tmp_path / day / "part-00000.parquet")
        files.append(str(tmp_path / day / "part-00000.parquet"))
    found = schema_drift(files)
    assert found == (
        "schemas differ from dt=2026-11-20/part-00000.parquet: dt=2026-11-21/part-00000.parquet: "
        "missing column(s) ['device']; unexpected column(s) ['device_type']; type changed 'price' from double to string"
    )
    assert schema_drift(files[:1]) is None
    assert schema_drift([files[0], files[0]]) is None
    # only the columns read: the model reads clicks and price, nothing reads device
    assert schema_drift(files, ["clicks"]) is None
    assert schema_drift(files, ["clicks", "price"]).endswith("type changed 'price' from double to string")


def _write_days(tmp_path: Path, tables: list[pa.Table]) -> list[str]:
    files = []
    for i, table in enumerate(tables):
        day = tmp_path / f"dt=2005-08-{i + 1:02d}"
        day.mkdir(parents=True)
        pq.write_table(table, day / "part-00000.parquet")
        files.append(str(day / "part-00000.parquet"))
    return files


def test_a_column_pandas_writes_differently_from_day_to_day_is_not_drift(tmp_path: Path):
    from retrain.data.loading import read_table

    # What pandas writes for one table on different days: an integer column as double on a day with nulls, an
    # all-null column as null, a category column as a dictionary, text as large_string.
    days = [
        pd.DataFrame({"age": [30, 41], "sex": [1, 2], "plan": ["basic", "pro"]}),
        pd.DataFrame({"age": [None, 52.0], "sex": [2, 1], "plan": [None, None]}),
        pd.DataFrame({"age": [33, 35], "sex": [1, 1], "plan": pd.Categorical(["pro", "basic"])}),
    ]
    tables = [pa.Table.from_pandas(d, preserve_index=False) for d in days]
    tables.append(pa.table({"age": pa.array([60], pa.int32()), "sex": [2], "plan": pa.array(["pro"], pa.large_string())}))
    prices = [pa.decimal128(10, 2), pa.decimal128(12, 2), pa.float64(), pa.decimal128(10, 2)]  # a database export
    tables = [t.append_column("price", pa.array([Decimal("1.00")] * t.num_rows, pa.decimal128(38, 2)).cast(p))
              for t, p in zip(tables, prices, strict=True)]
    files = _write_days(tmp_path, tables)

    assert schema_drift(files) is None
    table = read_table(files)
    assert table.column("price").to_pylist() == [1.0] * 7
    assert table.schema.field("age").type == pa.int64()  # whole numbers stay integers
    assert table.column("age").to_pylist() == [30, 41, None, 52, 33, 35, 60]
    assert table.column("plan").to_pylist() == ["basic", "pro", None, None, "pro", "basic", "pro"]


@pytest.mark.parametrize(("other", "change"), [
    (pa.table({"x": pa.array(["1"])}), "'x' from int64 to string"),
    (pa.table({"x": pa.array([True])}), "'x' from int64 to bool"),
    (pa.table({"x": pa.array([Decimal("1.00")], pa.decimal128(10, 2))}), "'x' from int64 to decimal128(10, 2)"),
])
def test_a_column_that_changes_kind_is_drift(tmp_path: Path, other, change):
    files = _write_days(tmp_path, [pa.table({"x": pa.array([1])}), other])
    assert f"type changed {change}" in schema_drift(files)


def test_a_time_zone_appearing_is_drift(tmp_path: Path):
    naive = pa.table({"t": pa.array([0], pa.timestamp("us"))})
    files = _write_days(tmp_path, [naive, pa.table({"t": pa.array([0], pa.timestamp("ns", "UTC"))})])
    assert "type changed 't' from timestamp[us] to timestamp[ns, tz=UTC]" in schema_drift(files)
    assert schema_drift(_write_days(tmp_path / "ns", [naive, pa.table({"t": pa.array([0], pa.timestamp("ns"))})])) is None


def test_an_integer_column_with_fractions_on_one_day_is_read_as_doubles(tmp_path: Path):
    from retrain.data.loading import read_table

    files = _write_days(tmp_path, [pa.table({"x": [1, 2]}), pa.table({"x": [0.5, float("nan")]})])
    assert schema_drift(files) is None
    table = read_table(files)
    assert table.schema.field("x").type == pa.float64() and table.column("x").to_pylist()[:3] == [1.0, 2.0, 0.5]
