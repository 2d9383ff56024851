"""Holdout metrics per head kind, in plain numpy: one registry entry per metric (its function and whether a
larger value is better). numpy and scipy are imported when a metric is computed, so specs validate without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

_EPS = 1e-7


def _floats(*arrays):
    import numpy as np

    return [np.asarray(a, dtype=np.float64) for a in arrays]


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged). NaN when one class is absent."""
    from scipy.stats import rankdata

    y_true = _floats(y_true)[0].astype(bool)
    positives = int(y_true.sum())
    negatives = y_true.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(y_true, y_prob) -> float:
    import numpy as np

    y, p = _floats(y_true, y_prob)
    p = p.clip(_EPS, 1 - _EPS)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def accuracy(y_true, y_prob) -> float:
    y, p = _floats(y_true, y_prob)
    return float(((p >= 0.5) == y.astype(bool)).mean())


def _classes_and_probabilities(y_true, y_prob):
    """Labels as class indices and an (n, classes) probability matrix."""
    import numpy as np

    y, p = _floats(y_true, y_prob)
    return y.astype(np.int64), p.reshape(len(y), -1)


def multiclass_log_loss(y_true, y_prob) -> float:
    import numpy as np

    y, p = _classes_and_probabilities(y_true, y_prob)
    return float(-np.log(p[np.arange(len(y)), y].clip(_EPS, 1.0)).mean())


def multiclass_accuracy(y_true, y_prob) -> float:
    y, p = _classes_and_probabilities(y_true, y_prob)
    return float((p.argmax(axis=1) == y).mean())


def macro_f1(y_true, y_prob) -> float:
    """The mean F1 over the classes that occur in the labels or the predictions (a rare class counts as much as
    a common one: accuracy alone rewards a model that never predicts it)."""
    import numpy as np

    y, p = _classes_and_probabilities(y_true, y_prob)
    predicted = p.argmax(axis=1)
    scores = []
    for k in np.union1d(y, predicted):
        tp = float(((predicted == k) & (y == k)).sum())
        scores.append(2 * tp / float((predicted == k).sum() + (y == k).sum()))
    return float(np.mean(scores))


def rmse(y_true, y_pred) -> float:
    y, p = _floats(y_true, y_pred)
    return float(((p - y) ** 2).mean() ** 0.5)


def mae(y_true, y_pred) -> float:
    y, p = _floats(y_true, y_pred)
    return float(abs(p - y).mean())


def r2(y_true, y_pred) -> float:
    y, p = _floats(y_true, y_pred)
    total = float(((y - y.mean()) ** 2).sum())
    return float(1 - ((p - y) ** 2).sum() / total) if total > 0 else float("nan")


@dataclass(frozen=True)
class Metric:
    compute: Callable[..., float]  # (labels, predictions) -> value
    direction: Literal["higher", "lower"]  # which way is better, for thresholds and the no-regression check
    low: float = 0.0  # the values it can take, so a spec's threshold outside them is refused at load
    high: float = float("inf")


# Every metric a head reports and a gate can name. A new metric: its function above and one entry here.
METRICS: dict[str, dict[str, Metric]] = {
    "binary": {"roc_auc": Metric(roc_auc, "higher", high=1.0), "log_loss": Metric(log_loss, "lower"),
               "accuracy": Metric(accuracy, "higher", high=1.0)},
    "multiclass": {"log_loss": Metric(multiclass_log_loss, "lower"),
                   "accuracy": Metric(multiclass_accuracy, "higher", high=1.0),
                   "macro_f1": Metric(macro_f1, "higher", high=1.0)},
    "regression": {"rmse": Metric(rmse, "lower"), "mae": Metric(mae, "lower"),
                   "r2": Metric(r2, "higher", low=float("-inf"), high=1.0)},
}
# The metric of the loss each head kind trains on; defined on any holdout, so the gate's default comparison.
LOSS_METRIC: dict[str, str] = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}


# The scores a one-line summary shows (a head has those of its kind), in this order.
HEADLINE_METRICS = ("roc_auc", "macro_f1", "log_loss", "rmse", "r2")
# Each kind's score of record: what a shadow comparison shows and a leaderboard sorts by without a gate metric.
RANKING_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}

# Reported beside a head's scores, never gated or compared: the holdout's share of positives, and how many of its
# rows had this head's label when some did not.
NOT_SCORES = frozenset({"positive_rate", "labeled_rows"})


def head_metrics(kind: str, y_true, y_pred) -> dict[str, float]:
    """Every metric of the head kind. Rows whose label is NaN (missing for this head, ``drop_unlabeled_rows``)
    are left out, and then ``labeled_rows`` says on how many rows the head was judged."""
    y_true, y_pred = _floats(y_true, y_pred)
    labeled = labeled_rows(y_true)
    partial = labeled.size and not labeled.all()
    if partial:
        y_true, y_pred = y_true[labeled], y_pred[labeled]
    scores = {name: metric.compute(y_true, y_pred) if y_true.size else float("nan")
              for name, metric in METRICS[kind].items()}
    if kind == "binary":  # shown next to the scores, never gated
        scores["positive_rate"] = float(y_true.mean()) if y_true.size else float("nan")
    if partial:
        scores["labeled_rows"] = float(y_true.size)
    return scores


# A holdout score this good on a real table more often means a feature carries the label than a great model.
TOO_GOOD: dict[str, dict[str, float]] = {"binary": {"roc_auc": 0.999}, "multiclass": {"accuracy": 0.999},
                                         "regression": {"r2": 0.999}}


def too_good_to_be_true(kind: str, scores: dict[str, float]) -> str | None:
    """``"roc_auc=1.0000"`` when a head's holdout score reaches ``TOO_GOOD``; None otherwise (NaN included)."""
    for metric, limit in TOO_GOOD[kind].items():
        value = scores.get(metric)
        if value is not None and value >= limit:  # NaN compares False
            return f"{metric}={value:.4f}"
    return None


def labeled_rows(y_true):
    """Where a head's label is present (not NaN)."""
    import numpy as np

    return ~np.isnan(np.asarray(y_true, dtype=np.float64))
