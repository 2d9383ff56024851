"""A data producer chooses the files inside its dataset folder, never files outside it.

The dataset folder itself is confined at load (docs/security.md S15-S16); these tests plant links and special
files *inside* a partition: the run must refuse them by name before it hashes, reads or logs a row.
Catalogue: docs/security.md, "Data partitions".
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest
from retrain.config import DataSpec, FreshnessRule
from retrain.data.freshness import select_snapshot
from retrain.data.landing import list_complete_partitions, mark_complete, write_partition
from retrain.errors import DeterministicFailure, PathNotAllowedError
from retrain_demo.data import generate_day

RULE = DataSpec(location="x", training_window_days=3, freshness=FreshnessRule(max_age_hours=30, min_rows=10))
AS_OF = datetime(2026, 11, 22, 3, tzinfo=UTC)


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "mine"
    for day in (20, 21):
        write_partition(generate_day(date(2026, 11, day), 50), root, date(2026, 11, day))
    return root


@pytest.fixture
def other_teams_file(tmp_path):
    other = write_partition(generate_day(date(2026, 11, 21), 50), tmp_path / "theirs", date(2026, 11, 21))
    return next(other.glob("*.parquet"))


def test_a_partition_file_linked_outside_its_dataset_is_refused_by_name(dataset, other_teams_file):
    planted = dataset / "dt=2026-11-21" / "part-00001.parquet"
    planted.symlink_to(other_teams_file)
    mark_complete(planted.parent, rows=100, files=["part-00000.parquet", planted.name])  # the producer's own marker
    with pytest.raises(PathNotAllowedError) as caught:
        select_snapshot(RULE, dataset, AS_OF)
    assert "part-00001.parquet" in str(caught.value) and str(other_teams_file) in str(caught.value)
    assert "outside its dataset folder" in str(caught.value)
    assert isinstance(caught.value, DeterministicFailure)  # fails fast, alerted, not retried
    with pytest.raises(PathNotAllowedError):  # batch scoring and `retrain run` list partitions the same way
        list_complete_partitions(dataset)


def test_a_partition_folder_linked_outside_its_dataset_is_refused(dataset, other_teams_file):
    (dataset / "dt=2026-11-22").symlink_to(other_teams_file.parent, target_is_directory=True)
    with pytest.raises(PathNotAllowedError, match=r"dt=2026-11-22.*outside its dataset folder"):
        select_snapshot(RULE, dataset, datetime(2026, 11, 23, 3, tzinfo=UTC))


def test_a_completion_marker_linked_outside_is_refused(dataset, tmp_path):
    folder = dataset / "dt=2026-11-21"
    (folder / "_SUCCESS").unlink()
    (tmp_path / "elsewhere").write_text('{"rows": 50}')
    (folder / "_SUCCESS").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PathNotAllowedError, match=r"_SUCCESS.*outside its dataset folder"):
        select_snapshot(RULE, dataset, AS_OF)


def test_a_named_pipe_posing_as_a_parquet_file_is_refused_not_read(dataset):
    """Reading a FIFO blocks until someone writes to it: the run would hang until its timeout."""
    os.mkfifo(dataset / "dt=2026-11-21" / "part-00001.parquet")
    mark_complete(dataset / "dt=2026-11-21", rows=50, files=["part-00000.parquet", "part-00001.parquet"])
    with pytest.raises(PathNotAllowedError, match=r"part-00001.parquet.*not a regular file"):
        select_snapshot(RULE, dataset, AS_OF)


def test_links_that_stay_inside_the_dataset_are_read(dataset):
    """A producer that deduplicates by linking one partition's file from another is within its rights."""
    day = date(2026, 11, 22)
    folder = dataset / f"dt={day}"
    folder.mkdir()
    (folder / "part-00000.parquet").symlink_to(dataset / "dt=2026-11-21" / "part-00000.parquet")
    mark_complete(folder, rows=50, files=["part-00000.parquet"])
    snapshot = select_snapshot(RULE, dataset, datetime(2026, 11, 23, 3, tzinfo=UTC))
    assert snapshot.newest_partition == "2026-11-22" and snapshot.total_rows == 150


def test_a_few_kilobytes_that_decode_to_gigabytes_are_refused_before_any_row_is_read(dataset):
    """100 million null rows compress to a few kilobytes of parquet; read, they take gigabytes (a float column of
    them: 800 MB; the frames the contract and training build: several times that) and a worker dies of memory
    with no message. The row count in the files' metadata is checked against the limit before anything decodes."""
    import resource

    import pyarrow as pa
    import pyarrow.parquet as pq
    from retrain.errors import DataReadError

    folder = dataset / "dt=2026-11-21"
    block = pa.table({name: pa.nulls(10_000_000, pa.float64()) for name in ("price", "discount_pct")})
    with pq.ParquetWriter(folder / "part-00000.parquet", block.schema) as writer:
        for _ in range(10):
            writer.write_table(block)
    mark_complete(folder, rows=100_000_000, files=["part-00000.parquet"])
    assert (folder / "part-00000.parquet").stat().st_size < 2_000_000
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with pytest.raises(DataReadError, match=r"holds 100,000,050 rows, more than RETRAIN_MAX_WINDOW_ROWS=50,000,000.*"
                                            r"largest: dt=2026-11-21 with 100,000,000 rows"):
        select_snapshot(RULE, dataset, AS_OF)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 200_000, f"checking the window took {grown_kib} KiB more memory"
