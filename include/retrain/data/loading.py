"""Read a snapshot's parquet files once, with pyarrow, into one columnar table.

Unreadable files and missing columns become DataReadError messages that name the file and column,
not tracebacks from deep inside pyarrow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retrain.errors import DataReadError


def read_table(files: list[str] | list[Path], columns: list[str] | None = None) -> pa.Table:
    """Concatenate the files into one table, keeping only ``columns`` (all when None)."""
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
        try:
            tables.append(pq.read_table(path, columns=columns))
        except Exception as exc:
            raise DataReadError(f"{path}: cannot read parquet data ({type(exc).__name__}: {exc})") from None
    if not tables:
        raise DataReadError("no files to read")
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as exc:
        raise DataReadError(f"partitions have incompatible schemas: {exc}") from None


def holdout_mask(num_rows: int, fraction: float, seed: int) -> np.ndarray:
    """Deterministic boolean mask: True for holdout rows. Same rows and seed, same split."""
    rng = np.random.default_rng(seed)
    return rng.random(num_rows) < fraction


def split_holdout(table: pa.Table, fraction: float, seed: int) -> tuple[pa.Table, pa.Table]:
    mask = holdout_mask(table.num_rows, fraction, seed)
    return table.filter(pa.array(~mask)), table.filter(pa.array(mask))
