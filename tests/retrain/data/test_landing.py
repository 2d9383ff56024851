"""The landing-zone contract: a partition exists for the pipeline only once its marker is written."""

from datetime import date

import pytest
from retrain.data.landing import (
    list_complete_partitions,
    mark_complete,
    parse_partition_day,
    partition_folder,
    read_manifest,
    write_partition,
)
from retrain_demo.data import generate_day

DAY = date(2026, 11, 21)


def test_marker_is_a_manifest_written_last(tmp_path):
    folder = write_partition(generate_day(DAY, 50), tmp_path, DAY)
    assert folder == partition_folder(tmp_path, DAY) == tmp_path / "dt=2026-11-21"
    assert read_manifest(folder) == {"rows": 50, "files": ["part-00000.parquet"]}
    assert not list(folder.glob(".*"))  # no temporary file left behind


def test_half_written_partition_has_no_manifest_and_is_not_listed(tmp_path):
    folder = write_partition(generate_day(DAY, 50), tmp_path, DAY, complete=False)
    assert (folder / "part-00000.parquet").exists()
    assert read_manifest(folder) is None
    assert list_complete_partitions(tmp_path) == []
    mark_complete(folder, rows=50, files=["part-00000.parquet"])
    assert [p.day for p in list_complete_partitions(tmp_path)] == [DAY]


def test_an_empty_success_file_from_spark_still_marks_the_partition_complete(tmp_path):
    folder = write_partition(generate_day(DAY, 10), tmp_path, DAY, complete=False)
    (folder / "_SUCCESS").write_text("")
    assert read_manifest(folder) == {}
    assert [p.day for p in list_complete_partitions(tmp_path)] == [DAY]


@pytest.mark.parametrize("marker", [b"\xff\xfe\x00binary", b"[1, 2]", b"{" + b" " * (2 << 20) + b"}"])
def test_a_marker_that_is_not_our_manifest_still_marks_the_partition_complete(tmp_path, marker):
    # a writer's own binary marker, JSON that is not a mapping, a 2 MiB file: complete, without a manifest
    folder = write_partition(generate_day(DAY, 10), tmp_path, DAY, complete=False)
    (folder / "_SUCCESS").write_bytes(marker)
    assert read_manifest(folder) == {}
    assert [p.day for p in list_complete_partitions(tmp_path)] == [DAY]


@pytest.mark.parametrize("value", ["2026-11-21", "dt=2026-11-21", "/data/x/dt=2026-11-21/", DAY])
def test_partition_day_accepts_dates_and_folder_names(value):
    assert parse_partition_day(value) == DAY


@pytest.mark.parametrize("value", ["yesterday", "dt=2026-13-01", ""])
def test_partition_day_rejects_other_text(value):
    with pytest.raises(ValueError):
        parse_partition_day(value)
