"""Holdout metrics per head, in plain numpy so they are cheap and dependency-free."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

_EPS = 1e-7


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged). NaN when one class is absent."""
    y_true = np.asarray(y_true).astype(bool)
    positives = int(y_true.sum())
    negatives = y_true.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    p = np.clip(np.asarray(y_prob, dtype=np.float64), _EPS, 1 - _EPS)
    y = np.asarray(y_true, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def binary_metrics(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    y_prob = np.asarray(y_prob, dtype=np.float64)
    return {
        "roc_auc": roc_auc(y_true, y_prob),
        "log_loss": log_loss(y_true, y_prob),
        "accuracy": float(np.mean((y_prob >= 0.5) == np.asarray(y_true).astype(bool))),
        "positive_rate": float(np.mean(y_true)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y = np.asarray(y_true, dtype=np.float64)
    err = np.asarray(y_pred, dtype=np.float64) - y
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1 - np.sum(err**2) / total) if total > 0 else float("nan"),
    }


def head_metrics(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return binary_metrics(y_true, y_pred) if kind == "binary" else regression_metrics(y_true, y_pred)
