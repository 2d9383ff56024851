"""The training loop: whole-column tensors, one shuffle per epoch, batches by slicing.

Inputs are moved to the device once. Each epoch draws one permutation (seeded), gathers every tensor
once in that order, and then takes contiguous slices as batches: no per-row Dataset, no DataLoader workers.

With ``checkpoint_dir`` set, a checkpoint is written after every epoch and a later call with the same
folder resumes after the last finished epoch (see ``retrain.training.checkpoints``). On CUDA the forward
pass runs under ``torch.autocast``: bf16 where the card supports it, otherwise fp16 with a GradScaler.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from retrain.data.encoding import EncodedFeatures
from retrain.models.base import HeadConfig
from retrain.training.checkpoints import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """Model inputs and labels as tensors on one device. ``labeled``: for a head whose label is missing (NaN)
    on some rows, 1.0 where it is present; its loss counts only those rows (the missing ones are stored as 0)."""

    numeric: torch.Tensor
    categorical: torch.Tensor
    labels: dict[str, torch.Tensor]
    labeled: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def from_arrays(
        cls, features: EncodedFeatures, labels: dict[str, np.ndarray], device: torch.device
    ) -> TrainingData:
        labeled = {name: ~np.isnan(values) for name, values in labels.items()}
        labeled = {name: present for name, present in labeled.items() if not present.all()}
        return cls(
            numeric=torch.from_numpy(features.numeric).to(device),
            categorical=torch.from_numpy(features.categorical).to(device),
            labels={name: torch.from_numpy(np.nan_to_num(values) if name in labeled else values).to(device)
                    for name, values in labels.items()},
            labeled={name: torch.from_numpy(present.astype(np.float32)).to(device) for name, present in labeled.items()},
        )

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def gather(self, order: torch.Tensor) -> TrainingData:
        """All tensors in ``order``, one ``index_select`` each (several times faster than ``tensor[order]``
        on the CPU, which goes through advanced indexing)."""
        return TrainingData(
            numeric=self.numeric.index_select(0, order),
            categorical=self.categorical.index_select(0, order),
            labels={name: y.index_select(0, order) for name, y in self.labels.items()},
            labeled={name: m.index_select(0, order) for name, m in self.labeled.items()},
        )

    def batch(self, start: int, end: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The labels and the labeled-row masks of rows ``start:end``."""
        return ({k: v[start:end] for k, v in self.labels.items()}, {k: m[start:end] for k, m in self.labeled.items()})


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    holdout_loss: float | None
    seconds: float
    samples_per_second: float


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def head_loss(head: HeadConfig, prediction: torch.Tensor, target: torch.Tensor, weight: float = 1.0,
              labeled: torch.Tensor | None = None) -> torch.Tensor:
    """The head's mean loss over the batch, or with ``labeled`` over its labeled rows (0 when it has none)."""
    prediction = prediction.float()
    reduction = "mean" if labeled is None else "none"
    if head.kind == "binary":
        loss = F.binary_cross_entropy(prediction.clamp(1e-7, 1 - 1e-7), target, reduction=reduction)
    elif head.kind == "multiclass":  # the class index; an unlabeled row's (0, see TrainingData) is masked below
        loss = F.nll_loss(prediction.clamp_min(1e-7).log(), target.long(), reduction=reduction)
    else:
        loss = F.mse_loss(prediction / head.label_std, target / head.label_std, reduction=reduction)
    if labeled is not None:  # no host sync: an all-unlabeled batch gives 0 / 1
        loss = (loss * labeled).sum() / labeled.sum().clamp_min(1.0)
    return loss if weight == 1.0 else weight * loss  # skip a no-op multiply per batch


def total_loss(
    heads: list[HeadConfig], outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], weights: dict[str, float],
    labeled: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    labeled = labeled or {}
    losses = [head_loss(h, outputs[h.name], labels[h.name], weights.get(h.name, 1.0), labeled.get(h.name))
              for h in heads]
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    return total


@torch.no_grad()
def evaluate_loss(model: nn.Module, heads: list[HeadConfig], data: TrainingData, batch_size: int,
                  weights: dict[str, float]) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        end = min(start + batch_size, len(data))
        outputs = model(data.numeric[start:end], data.categorical[start:end])
        labels, labeled = data.batch(start, end)
        total += float(total_loss(heads, outputs, labels, weights, labeled)) * (end - start)
        count += end - start
    return total / max(count, 1)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed precision on CUDA: bf16 where supported, else fp16. None (full fp32) on the CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def fit(
    model: nn.Module,
    heads: list[HeadConfig],
    train: TrainingData,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float = 0.0,
    seed: int = 0,
    loss_weights: dict[str, float] | None = None,
    holdout: TrainingData | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
    checkpoint_dir: str | Path | None = None,
    mixed_precision: bool = True,
) -> list[EpochResult]:
    """Train ``model`` in place. Calls ``on_epoch`` after every epoch (for logging and tracking).

    Returns the history of every epoch, including those finished before a resume. ``on_epoch`` is called
    only for the epochs this call trains, after the epoch's checkpoint is safely on disk.
    """
    weights = loss_weights or {}
    device = train.numeric.device
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    amp_dtype = autocast_dtype(device) if mixed_precision else None
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    history: list[EpochResult] = []
    best = float("inf")
    first_epoch = 1
    state = load_checkpoint(checkpoint_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["permutation_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        if scaler is not None and state.get("grad_scaler"):
            scaler.load_state_dict(state["grad_scaler"])
        best = state["best_metric"]
        history = [EpochResult(**h) for h in state["history"]]
        first_epoch = state["epoch"] + 1
        log.info("resuming training after epoch %d of %d", state["epoch"], epochs)
    n = len(train)

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    for epoch in range(first_epoch, epochs + 1):
        model.train()
        started = time.perf_counter()
        # int32 permutations are about twice as fast to draw and hold the same values as int64 ones
        order = torch.randperm(n, generator=generator, dtype=torch.int32 if n < 2**31 else torch.int64)
        shuffled = train.gather(order.to(device))
        numeric, categorical = shuffled.numeric, shuffled.categorical
        running = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            with autocast():
                outputs = model(numeric[start:end], categorical[start:end])
            # Losses in fp32, outside autocast (binary_cross_entropy is not autocast-safe).
            labels, labeled = shuffled.batch(start, end)
            loss = total_loss(heads, outputs, labels, weights, labeled)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            running += loss.detach() * (end - start)
        train_loss = float(running) / n
        seconds = time.perf_counter() - started
        holdout_loss = evaluate_loss(model, heads, holdout, batch_size * 4, weights) if holdout else None
        result = EpochResult(epoch, train_loss, holdout_loss, seconds, n / seconds if seconds else float("inf"))
        log.info(
            "epoch %d/%d train_loss=%.5f holdout_loss=%s %.0f samples/s",
            epoch, epochs, train_loss, f"{holdout_loss:.5f}" if holdout_loss is not None else "n/a",
            result.samples_per_second,
        )
        history.append(result)
        if holdout_loss is not None:
            best = min(best, holdout_loss)
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "permutation_rng": generator.get_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "grad_scaler": scaler.state_dict() if scaler is not None else {},
                "best_metric": best,
                "history": [asdict(h) for h in history],
            })
        if on_epoch:
            on_epoch(result)
    return history


@torch.no_grad()
def predict(model: nn.Module, features: EncodedFeatures, device: torch.device, batch_size: int = 8192
            ) -> dict[str, np.ndarray]:
    model.eval()
    numeric = torch.from_numpy(features.numeric).to(device)
    categorical = torch.from_numpy(features.categorical).to(device)
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(features), batch_size):
        outputs = model(numeric[start : start + batch_size], categorical[start : start + batch_size])
        for name, values in outputs.items():
            chunks.setdefault(name, []).append(values.float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}
