"""Data path benchmarks: our parquet -> tensors -> sliced batches loader against a per-row pandas
Dataset/DataLoader, and against a plain memory copy of the bytes it produces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import BASELINE_ROWS, Result, alternate, best_of

NUMERIC = ["price", "discount_pct", "user_tenure_days", "session_page_views", "item_rating", "hour_of_day"]
CATEGORICAL = ["device", "country", "item_category", "traffic_source"]
LABELS = ["click", "dwell_seconds"]
BATCH = 1024


def our_loader(files: list[Path], batches: bool = True):
    """parquet -> pyarrow -> FeatureEncoder -> tensors -> one epoch of shuffled, sliced batches."""
    import torch
    from retrain.data.encoding import FeatureEncoder, label_array
    from retrain.data.loading import read_table
    from retrain.training.trainer import TrainingData

    table = read_table(files, columns=[*NUMERIC, *CATEGORICAL, *LABELS])
    encoder = FeatureEncoder.fit(table, NUMERIC, CATEGORICAL)
    labels = {name: label_array(table, name) for name in LABELS}
    data = TrainingData.from_arrays(encoder.transform(table), labels, torch.device("cpu"))
    if batches:
        consume(data)
    return data


def consume(data) -> int:
    """What the trainer does with the data each epoch: one permutation, one gather, contiguous slices."""
    import torch

    n = len(data)
    shuffled = data.gather(torch.randperm(n, dtype=torch.int32))
    numeric, categorical, labels = shuffled.numeric, shuffled.categorical, list(shuffled.labels.values())
    seen = 0
    for start in range(0, n, BATCH):
        batch = (numeric[start : start + BATCH], categorical[start : start + BATCH],
                 [y[start : start + BATCH] for y in labels])
        seen += batch[0].shape[0]
    return seen


def per_row_baseline(files: list[Path], rows: int) -> int:
    """What most user code does: a pandas frame, a Dataset that encodes one row per __getitem__, a DataLoader."""
    import pandas as pd
    import torch
    from torch.utils.data import DataLoader, Dataset

    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).head(rows)
    means = {c: frame[c].mean() for c in NUMERIC}
    stds = {c: frame[c].std() or 1.0 for c in NUMERIC}
    vocab = {c: {v: i + 1 for i, v in enumerate(frame[c].dropna().unique())} for c in CATEGORICAL}

    class Rows(Dataset):
        def __len__(self) -> int:
            return len(frame)

        def __getitem__(self, i: int):
            row = frame.iloc[i]
            numeric = [((m if pd.isna(row[c]) else row[c]) - m) / stds[c] for c, m in means.items()]
            categorical = [vocab[c].get(row[c], 0) for c in CATEGORICAL]
            return (torch.tensor(numeric, dtype=torch.float32), torch.tensor(categorical, dtype=torch.int64),
                    {name: torch.tensor(float(row[name]), dtype=torch.float32) for name in LABELS})

    seen = 0
    for numeric, _, _ in DataLoader(Rows(), batch_size=BATCH, shuffle=True):
        seen += numeric.shape[0]
    return seen


def loader_vs_per_row(files: list[Path], tmp: Path) -> Result:
    data = our_loader(files)
    ours = best_of(lambda: our_loader(files))
    baseline = best_of(lambda: per_row_baseline(files, BASELINE_ROWS), repeats=1)
    return Result("(a) loader vs per-row Dataset/DataLoader", len(data) / ours, BASELINE_ROWS / baseline,
                  "samples/s", 100.0)


def _nbytes(data) -> int:
    return data.numeric.nbytes + data.categorical.nbytes + sum(y.nbytes for y in data.labels.values())


def loader_vs_memcpy(files: list[Path], tmp: Path) -> Result:
    data = our_loader(files, batches=False)
    size = _nbytes(data)
    source = np.random.default_rng(0).integers(0, 255, size=size, dtype=np.uint8)
    target = np.empty_like(source)
    ours, copy = alternate(lambda: our_loader(files), lambda: np.copyto(target, source))
    return Result("(b) loader (parquet->batches) vs memcpy", size / ours / 1e6, size / copy / 1e6, "MB/s", 0.5,
                  note=f"{size / 1e6:.1f} MB of model inputs and labels ({len(data):,} rows)")


def pyarrow_floor(files: list[Path]) -> int:
    """The decoder's own floor: pyarrow reads the same columns and turns each into a numpy array."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [*NUMERIC, *CATEGORICAL, *LABELS]
    table = pa.concat_tables([pq.read_table(f, columns=columns) for f in files])
    arrays = [table.column(name).to_numpy() for name in columns]
    return len(arrays[0])


def loader_vs_pyarrow(files: list[Path], tmp: Path) -> Result:
    rows = len(our_loader(files, batches=False))
    assert pyarrow_floor(files) == rows
    ours, floor = alternate(lambda: our_loader(files, batches=False), lambda: pyarrow_floor(files))
    return Result("(b\") loader (parquet->tensors) vs pyarrow read+to_numpy", rows / ours, rows / floor, "rows/s", 0.5,
                  note=f"{rows:,} rows; ours: read, fit the encoder, encode, label arrays, tensors; "
                       f"pyarrow: read_table + to_numpy of the same {len(NUMERIC) + len(CATEGORICAL) + len(LABELS)} columns")


def batching_vs_memcpy(files: list[Path], tmp: Path) -> Result:
    data = our_loader(files, batches=False)
    size = _nbytes(data)
    source = np.random.default_rng(0).integers(0, 255, size=size, dtype=np.uint8)
    target = np.empty_like(source)
    ours, copy = alternate(lambda: consume(data), lambda: np.copyto(target, source))
    return Result("(b') per-epoch shuffle+batches vs memcpy", size / ours / 1e6, size / copy / 1e6, "MB/s", 0.5,
                  note="data already decoded: one permutation gather, then slices (what each epoch costs)")


BENCHMARKS = [
    ("loader_vs_per_row", loader_vs_per_row),
    ("loader_vs_memcpy", loader_vs_memcpy),
    ("batching_vs_memcpy", batching_vs_memcpy),
    ("loader_vs_pyarrow", loader_vs_pyarrow),
]
