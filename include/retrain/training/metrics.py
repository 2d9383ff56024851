"""Holdout metrics per head kind, in plain numpy: one registry entry per metric (its function and whether a
larger value is better). numpy and scipy are imported when a metric is computed, so specs validate without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

_EPS = 1e-7


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged). NaN when one class is absent."""
    import numpy as np
    from scipy.stats import rankdata

    y_true = np.asarray(y_true).astype(bool)
    positives = int(y_true.sum())
    negatives = y_true.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(y_true, y_prob) -> float:
    import numpy as np

    p = np.clip(np.asarray(y_prob, dtype=np.float64), _EPS, 1 - _EPS)
    y = np.asarray(y_true, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def accuracy(y_true, y_prob) -> float:
    import numpy as np

    return float(np.mean((np.asarray(y_prob, dtype=np.float64) >= 0.5) == np.asarray(y_true).astype(bool)))


def rmse(y_true, y_pred) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)) ** 2)))


def mae(y_true, y_pred) -> float:
    import numpy as np

    return float(np.mean(np.abs(np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64))))


def r2(y_true, y_pred) -> float:
    import numpy as np

    y = np.asarray(y_true, dtype=np.float64)
    total = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((np.asarray(y_pred, dtype=np.float64) - y) ** 2) / total) if total > 0 else float("nan")


@dataclass(frozen=True)
class Metric:
    compute: Callable[..., float]  # (labels, predictions) -> value
    direction: Literal["higher", "lower"]  # which way is better, for thresholds and the no-regression check


# Every metric a head reports and a gate can name. A new metric: its function above and one entry here.
METRICS: dict[str, dict[str, Metric]] = {
    "binary": {"roc_auc": Metric(roc_auc, "higher"), "log_loss": Metric(log_loss, "lower"),
               "accuracy": Metric(accuracy, "higher")},
    "regression": {"rmse": Metric(rmse, "lower"), "mae": Metric(mae, "lower"), "r2": Metric(r2, "higher")},
}


def head_metrics(kind: str, y_true, y_pred) -> dict[str, float]:
    scores = {name: metric.compute(y_true, y_pred) for name, metric in METRICS[kind].items()}
    if kind == "binary":  # shown next to the scores, never gated
        import numpy as np

        scores["positive_rate"] = float(np.mean(y_true))
    return scores


def binary_metrics(y_true, y_prob) -> dict[str, float]:
    return head_metrics("binary", y_true, y_prob)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    return head_metrics("regression", y_true, y_pred)
