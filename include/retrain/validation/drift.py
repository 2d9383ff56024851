"""Per-feature drift against the data that trained the champion: Population Stability Index (PSI).

Reference statistics are computed from each run's validated training data and travel in the validation
report (``reference_stats``), which the train task logs as ``validation/report.json`` into the MLflow run.
The champion's reference is found through the registry: champion version -> run_id -> that artifact.

Numeric columns: decile edges of the reference (nulls in their own bin); categorical columns: category
frequencies (top categories, the rest as ``__other__``, nulls as ``__null__``). PSI = sum((p - q) ln(p / q))
with a floor of 1e-4 per bin; 0.1 is the usual "worth a look", 0.25 "the population changed".
"""

from __future__ import annotations

import math
from typing import Any

_EPS = 1e-4
_TOP = 50
NULL, OTHER = "__null__", "__other__"


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def reference_stats(frame: Any, columns: list[str], bins: int = 10) -> dict[str, Any]:
    """Statistics of ``columns`` of ``frame`` to compare later data with (JSON-friendly)."""
    import numpy as np

    stats: dict[str, Any] = {}
    for col in columns:
        if col not in frame.columns:
            continue
        s = frame[col]
        n = len(s)
        if n == 0:
            continue
        if _is_numeric(s):
            values = s.to_numpy(dtype="float64", na_value=np.nan)
            finite = values[~np.isnan(values)]
            if finite.size == 0:
                continue
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
            stats[col] = {"kind": "numeric", "edges": edges.tolist(), "rows": n,
                          "fractions": _numeric_fractions(values, edges), "mean": float(finite.mean())}
        else:
            counts = s.astype("object").where(s.notna(), NULL).value_counts()
            top = counts.head(_TOP)
            fractions = {str(k): int(v) / n for k, v in top.items()}
            rest = n - int(top.sum())
            if rest:
                fractions[OTHER] = rest / n
            stats[col] = {"kind": "categorical", "rows": n, "fractions": fractions}
    return stats


def _numeric_fractions(values: Any, edges: Any) -> list[float]:
    import numpy as np

    n = len(values)
    nulls = np.isnan(values)
    idx = np.searchsorted(edges, values[~nulls], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return [float(c) / n for c in counts] + [float(nulls.sum()) / n]


def _psi(ref: list[float], new: list[float]) -> float:
    total = 0.0
    for p, q in zip(ref, new, strict=True):
        p, q = max(p, _EPS), max(q, _EPS)
        total += (q - p) * math.log(q / p)
    return total


def psi(reference: dict[str, Any], frame: Any, column: str) -> float | None:
    """PSI of ``frame[column]`` against one column's reference statistics; None when it cannot be compared."""
    import numpy as np

    if column not in frame.columns or len(frame) == 0:
        return None
    s = frame[column]
    if reference["kind"] == "numeric":
        if not _is_numeric(s):
            return None
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        return _psi(reference["fractions"], _numeric_fractions(values, np.asarray(reference["edges"])))
    n = len(s)
    counts = s.astype("object").where(s.notna(), NULL).astype(str).value_counts()
    ref = reference["fractions"]
    new = {k: 0.0 for k in ref}
    new.setdefault(OTHER, 0.0)
    for k, v in counts.items():
        new[k if k in ref else OTHER] += int(v) / n
    keys = list(new)
    return _psi([ref.get(k, 0.0) for k in keys], [new[k] for k in keys])


def drift_failures(frame: Any, reference: dict[str, Any], spec: Any, source: str) -> tuple[list[Any], dict[str, float]]:
    """PSI per spec column against ``reference``; failures (block/warn per the spec's thresholds) and the scores."""
    from retrain.validation.contract import ExpectationFailure

    failures, scores = [], {}
    for offset, column in enumerate(spec.columns):
        ref = reference.get(column)
        if ref is None:
            continue
        value = psi(ref, frame, column)
        if value is None:
            continue
        scores[column] = round(value, 4)
        if value < spec.psi_warn:
            continue
        blocking = spec.psi_block is not None and value >= spec.psi_block
        limits = f"warn at {spec.psi_warn:g}" + (f", block at {spec.psi_block:g}" if spec.psi_block is not None else "")
        failures.append(ExpectationFailure(
            "retrain_psi_drift", column, "block" if blocking else "warn",
            f"PSI {value:.3f} against the data that trained {source} ({limits})", 10_000 + offset,
        ))
    return failures, scores
