"""Read a snapshot's parquet files once, with pyarrow, into one columnar table.

Unreadable files and missing columns become DataReadError messages that name the file and column,
not tracebacks from deep inside pyarrow.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retrain.data.encoding import blank_text_as_null, category_text
from retrain.errors import DataReadError, PartitionsIncompatibleError


def read_table(files: list[str] | list[Path], columns: list[str] | None = None, partition_column: str | None = None
               ) -> pa.Table:
    """Concatenate the files into one table, keeping only ``columns`` (all when None); with
    ``partition_column``, add a column naming each row's partition folder (``dt=YYYY-MM-DD``)."""
    tables = []
    for file in files:
        path = Path(file)
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise DataReadError(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc})") from None
        if columns is not None:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise DataReadError(f"{path}: missing column(s) {missing}; the file has {schema.names}")
        twice = sorted({n for n in schema.names if schema.names.count(n) > 1 and (columns is None or n in columns)})
        if twice:
            raise DataReadError(f"{path}: column(s) {twice} appear more than once in the file (a join or an export "
                                f"that kept both sides' names); no reader can tell them apart, so rename one")
        try:
            table = pq.read_table(path, columns=columns)
            if partition_column is not None:
                table = table.append_column(partition_column, pa.array([path.parent.name] * table.num_rows, pa.string()))
            tables.append(table)
        except Exception as exc:
            raise DataReadError(f"{path}: cannot read parquet data ({type(exc).__name__}: {exc})") from None
    if not tables:
        raise DataReadError("no files to read")
    if any(not t.schema.equals(tables[0].schema) for t in tables[1:]):
        tables = _whole_numbers_as_integers(tables)
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    try:  # a categorical written as a dictionary on some days and as plain text on others
        return pa.concat_tables([_without_dictionaries(t) for t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PartitionsIncompatibleError(f"partitions have incompatible schemas: {exc}") from None


def _whole_numbers_as_integers(tables: list[pa.Table]) -> list[pa.Table]:
    """A column that is integer in some files and float in others stays integer when the floats are whole
    numbers: pandas writes an integer column as double on a day with nulls, and the column is still the
    integers a suite's type check expects (not doubles on every day)."""
    names = dict.fromkeys(n for t in tables for n in t.column_names)
    for name in names:
        types = [t.schema.field(name).type for t in tables if name in t.column_names]
        if not (any(map(pa.types.is_integer, types)) and any(map(pa.types.is_floating, types))
                and all(pa.types.is_integer(x) or pa.types.is_floating(x) for x in types)):
            continue
        try:
            cast = [_floats_to_int64(t, name) for t in tables]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a fraction or an infinity: keep them doubles
            continue
        tables = cast
    return tables


def _floats_to_int64(table: pa.Table, name: str) -> pa.Table:
    if name not in table.column_names or not pa.types.is_floating(table.schema.field(name).type):
        return table
    column = table.column(name)
    whole = pc.cast(pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column), pa.int64())
    return table.set_column(table.schema.get_field_index(name), name, whole)


def _without_dictionaries(table: pa.Table) -> pa.Table:
    fields = [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields, table.schema.metadata))


def segment_keys(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A segment column as the text that names its segments, one rule wherever segments are planned or their
    rows selected: Arrow's cast, so 1.0 and 1 are both '1' and booleans 'true'/'false', whatever type the
    window's files gave the column. NaN is no segment, as null is not (``encoding.category_text``)."""
    return category_text(column)


def _unlabeled_mask(table: pa.Table, labels: list[str], *, every: bool = False):
    """Rows missing any label, or with ``every`` the rows missing all of them."""
    present = [c for c in labels if c in table.column_names]
    if not present:
        return None
    combine = pc.and_ if every else pc.or_
    missing = _no_label(table.column(present[0]))
    for name in present[1:]:
        missing = combine(missing, _no_label(table.column(name)))
    return missing


def _no_label(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Null, NaN, or blank text (a CSV export's missing value): read as "no" by a ``positive:`` head otherwise."""
    return pc.is_null(blank_text_as_null(column), nan_is_null=True)


def unlabeled_per_partition(table: pa.Table, labels: list[str], partition_column: str, *, every: bool = False
                            ) -> dict[str, int]:
    """Rows with a null in any label column (``every``: in all of them), per partition (``dt=...``); partitions
    without any are left out."""
    missing = _unlabeled_mask(table, labels, every=every)
    if missing is None or table.num_rows == 0:
        return {}
    counts = pc.value_counts(pc.filter(table.column(partition_column), missing)).to_pylist()
    return {row["values"]: int(row["counts"]) for row in sorted(counts, key=lambda r: r["values"])}


def drop_unlabeled(table: pa.Table, labels: list[str]) -> pa.Table:
    """Only the rows with at least one label (``data.drop_unlabeled_rows``): a row missing some heads' labels
    trains and judges the others (``encoding.head_labels(missing_ok=True)`` gives its missing ones as NaN)."""
    missing = _unlabeled_mask(table, labels, every=True)
    return table if missing is None else table.filter(pc.invert(missing))
