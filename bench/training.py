"""Trainer benchmarks: our fit() against a minimal hand-written PyTorch loop on the same model and data,
and with MLflow logging on against off."""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import Result, alternate
from bench.data_path import BATCH, our_loader

EPOCHS = 2


def _problem(files: list[Path]):
    from retrain.models.base import HeadConfig

    data = our_loader(files, batches=False)
    std = float(data.labels["dwell_seconds"].std())
    heads = [HeadConfig("click", "binary"),
             HeadConfig("dwell_seconds", "regression", float(data.labels["dwell_seconds"].mean()), std)]
    return data, heads


def _model(heads, data):
    from retrain.models.base import ModelConfig, build_model
    from retrain.training.trainer import set_seed

    cardinalities = [int(data.categorical[:, j].max()) + 1 for j in range(data.categorical.shape[1])]
    set_seed(0)
    return build_model(ModelConfig("tabular_mlp", data.numeric.shape[1], cardinalities, heads,
                                   hidden_units=[64, 32], embedding_dim=6))


def hand_loop(model, heads, data, epochs: int) -> None:
    """The minimal loop a PyTorch user writes: index batches with a permutation, forward, loss, step."""
    import torch
    from torch.nn import functional as F

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    click, dwell = data.labels["click"], data.labels["dwell_seconds"]
    std = heads[1].label_std
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(data)).split(BATCH):
            out = model(data.numeric[idx], data.categorical[idx])
            loss = F.binary_cross_entropy(out["click"].clamp(1e-7, 1 - 1e-7), click[idx]) + F.mse_loss(
                out["dwell_seconds"] / std, dwell[idx] / std)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def ours_fit(model, heads, data, epochs: int, **kwargs) -> None:
    from retrain.training.trainer import fit

    fit(model, heads, data, epochs=epochs, batch_size=BATCH, learning_rate=1e-3, **kwargs)


def trainer_vs_hand_loop(files: list[Path], tmp: Path) -> Result:
    data, heads = _problem(files)
    ours, hand = alternate(lambda: ours_fit(_model(heads, data), heads, data, EPOCHS),
                           lambda: hand_loop(_model(heads, data), heads, data, EPOCHS))
    n = len(data) * EPOCHS
    return Result("(c) trainer vs hand-written loop", n / ours, n / hand, "samples/s", 0.95)


def trainer_with_checkpoints(files: list[Path], tmp: Path) -> Result:
    data, heads = _problem(files)
    folder = tmp / "checkpoints"

    def with_checkpoints():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        ours_fit(_model(heads, data), heads, data, EPOCHS, checkpoint_dir=folder)

    ours, plain = alternate(with_checkpoints, lambda: ours_fit(_model(heads, data), heads, data, EPOCHS))
    n = len(data) * EPOCHS
    return Result("(c') trainer, checkpoint every epoch vs none", n / ours, n / plain, "samples/s", None)


def mlflow_on_vs_off(files: list[Path], tmp: Path) -> Result:
    import mlflow

    data, heads = _problem(files)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment("bench")

    def logged():
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            def log_epoch(result) -> None:
                mlflow.log_metrics({"train_loss": result.train_loss,
                                    "samples_per_second": result.samples_per_second}, step=result.epoch)
            ours_fit(_model(heads, data), heads, data, EPOCHS, on_epoch=log_epoch)

    on, off = alternate(logged, lambda: ours_fit(_model(heads, data), heads, data, EPOCHS))
    n = len(data) * EPOCHS
    return Result("(d) trainer with MLflow logging on vs off", n / on, n / off, "samples/s", 0.97,
                  note="per-epoch metrics, logged as training_stage does, to a SQLite MLflow store; run start/end included")


BENCHMARKS = [
    ("trainer_vs_hand_loop", trainer_vs_hand_loop),
    ("trainer_checkpoints", trainer_with_checkpoints),
    ("mlflow_on_vs_off", mlflow_on_vs_off),
]
