"""Plots people look at before trusting a model: loss curves, ROC/PR/calibration, confusion, residuals."""

from __future__ import annotations

import numpy as np


def _figure(figsize: tuple[float, float]):
    """A figure outside pyplot: nothing keeps it once it is logged (pyplot's registry kept every figure of a
    long task, e.g. one per segment model), and pyplot itself is not imported."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def loss_curves(history: list[dict]):
    fig = _figure((5, 3.5))
    ax = fig.subplots()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    holdout = [h["holdout_loss"] for h in history]
    if all(v is not None for v in holdout):
        ax.plot(epochs, holdout, marker="o", label="holdout")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss per epoch")
    ax.legend()
    fig.tight_layout()
    return fig


def binary_head_plots(head: str, y_true: np.ndarray, y_prob: np.ndarray):
    """ROC, precision-recall and calibration (reliability) curves for one binary head."""
    y = np.asarray(y_true).astype(bool)
    order = np.argsort(-y_prob, kind="stable")
    hits = y[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    positives, negatives = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    fig = _figure((13, 3.8))
    axes = fig.subplots(1, 3)
    axes[0].plot(np.r_[0, fp / negatives], np.r_[0, tp / positives])
    axes[0].plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title=f"{head}: ROC")
    axes[1].plot(tp / positives, tp / np.maximum(tp + fp, 1))
    axes[1].set(xlabel="recall", ylabel="precision", title=f"{head}: precision-recall")
    edges = np.quantile(y_prob, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, y_prob, side="right") - 1, 0, 9)
    mean_pred = [y_prob[bins == b].mean() for b in range(10) if np.any(bins == b)]
    mean_true = [y[bins == b].mean() for b in range(10) if np.any(bins == b)]
    axes[2].plot(mean_pred, mean_true, marker="o")
    top = max(max(mean_pred, default=1), max(mean_true, default=1))
    axes[2].plot([0, top], [0, top], linestyle="--", color="grey")
    axes[2].set(xlabel="mean predicted", ylabel="observed rate", title=f"{head}: calibration (deciles)")
    fig.tight_layout()
    return fig


def multiclass_head_plots(head: str, y_true: np.ndarray, y_prob: np.ndarray, classes: list[str]):
    """The confusion matrix of one multiclass head, each row (true class) as shares of its rows."""
    k = len(classes)
    counts = np.zeros((k, k))
    np.add.at(counts, (np.asarray(y_true).astype(int), np.asarray(y_prob).argmax(axis=1)), 1)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = _figure((max(4.5, 0.5 * k + 2.5), max(4.0, 0.5 * k + 2)))
    ax = fig.subplots()
    image = ax.imshow(shares, vmin=0, vmax=1, cmap="Blues")
    shown = [c[:20] for c in classes]
    ax.set_xticks(range(k), shown, rotation=45, ha="right")
    ax.set_yticks(range(k), shown)
    if k <= 20:
        for (i, j), share in np.ndenumerate(shares):
            ax.text(j, i, f"{share:.2f}", ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted", ylabel="true (each row: shares of its rows)", title=f"{head}: confusion")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def regression_head_plots(head: str, y_true: np.ndarray, y_pred: np.ndarray):
    residuals = np.asarray(y_pred) - np.asarray(y_true)
    fig = _figure((9, 3.8))
    axes = fig.subplots(1, 2)
    axes[0].scatter(y_pred, residuals, s=2, alpha=0.3)
    axes[0].axhline(0, color="grey", linestyle="--")
    axes[0].set(xlabel="predicted", ylabel="residual", title=f"{head}: residuals")
    axes[1].hist(residuals, bins=50)
    axes[1].set(xlabel="residual", ylabel="rows", title=f"{head}: residual distribution")
    fig.tight_layout()
    return fig


def metric_vs_cost(model: str, metric: str, rows) -> object:
    """The leaderboard as a scatter: each gated run's metric against its cost, promoted runs filled."""
    fig = _figure((5.5, 3.8))
    ax = fig.subplots()
    for decision, label, marker, color in (("promote", "promoted", "o", "tab:green"),
                                           ("reject", "rejected", "x", "tab:red")):
        shown = [r for r in rows if r.decision == decision and r.cost_usd is not None]
        if shown:
            ax.scatter([r.cost_usd for r in shown], [r.value for r in shown], marker=marker, color=color,
                       label=label)
            for r in shown:
                ax.annotate(f"v{r.version}" if r.version else r.run_id[:6], (r.cost_usd, r.value),
                            textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(xlabel="cost per run (USD)", ylabel=metric, title=f"{model}: {metric} against cost")
    if ax.get_legend_handles_labels()[0]:  # runs from before cost accounting have no point
        ax.legend()
    fig.tight_layout()
    return fig
