"""Rows without a label: counted per partition, dropped only when the spec asks."""

import pyarrow as pa
from retrain.data.loading import drop_unlabeled, unlabeled_per_partition


def test_unlabeled_rows_are_counted_per_partition_over_every_label():
    table = pa.table({
        "a": [1, None, 0, 1, None],
        "b": [0, 1, None, 1, None],
        "__partition": ["dt=2026-01-01", "dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-02", "dt=2026-01-03"],
    })
    assert unlabeled_per_partition(table, ["a", "b"], "__partition") == {
        "dt=2026-01-01": 1, "dt=2026-01-02": 1, "dt=2026-01-03": 1}
    kept = drop_unlabeled(table, ["a", "b"])
    assert kept.column("a").to_pylist() == [1, 1] and kept.column("__partition").to_pylist() == [
        "dt=2026-01-01", "dt=2026-01-02"]
    assert unlabeled_per_partition(kept, ["a", "b"], "__partition") == {}
