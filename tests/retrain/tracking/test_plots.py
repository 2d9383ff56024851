"""The plots a run logs: rendered as PNG, and not kept alive after they are logged."""

from __future__ import annotations

import gc
import io
import weakref

import numpy as np
from retrain.tracking.plots import binary_head_plots, loss_curves, regression_head_plots


def test_a_logged_figure_is_freed_and_renders_as_png() -> None:
    rng = np.random.default_rng(0)
    refs = []
    for _ in range(2):  # as for each segment model of a chunk: pyplot's registry kept every one of them
        figures = [loss_curves([{"epoch": 1, "train_loss": 1.0, "holdout_loss": 0.9},
                                {"epoch": 2, "train_loss": 0.5, "holdout_loss": 0.7}]),
                   binary_head_plots("atc", rng.random(200) > 0.5, rng.random(200)),
                   regression_head_plots("dwell", rng.random(200), rng.random(200))]
        for figure in figures:
            png = io.BytesIO()
            figure.savefig(png, format="png")  # what mlflow.log_figure does with it
            assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
            refs.append(weakref.ref(figure))
        del figures, figure
    gc.collect()
    assert [r for r in refs if r() is not None] == []
