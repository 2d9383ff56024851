"""The architecture description saved next to the weights, and the builder that turns it into a module.

Weights are stored as a plain state dict (loadable with ``torch.load(weights_only=True)``); the
architecture is rebuilt from this config and the code in this package, never unpickled.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Architecture:
    module: str  # "package.module:Class", imported only when a model is built (torch stays out of parsing)
    head_kinds: tuple[str, ...] | None = None  # the heads it needs, in order, when it needs particular ones


# The architectures a spec can name. A new one: its module in this package, and one entry here.
ARCHITECTURES: dict[str, Architecture] = {
    "esmm": Architecture("retrain.models.esmm:ESMM", head_kinds=("binary", "binary")),
    "tabular_mlp": Architecture("retrain.models.tabular:TabularMLP"),
}


@dataclass(frozen=True)
class HeadConfig:
    name: str
    kind: str  # "binary", "multiclass" or "regression"
    label_mean: float = 0.0  # regression heads predict in label units: z * label_std + label_mean
    label_std: float = 1.0
    classes: list[str] | None = None  # multiclass heads: one output (a probability) per class, in this order

    @property
    def outputs(self) -> int:
        return len(self.classes) if self.classes else 1


def probability_column(head: str, class_name: str) -> str:
    """The column of a served prediction that holds a multiclass head's probability of one class."""
    return f"{head}_probability_{class_name}"


def served_columns(heads: list[HeadConfig], predictions: dict) -> dict:
    """What a served model returns, from the model's outputs: a column per head; for a multiclass head its
    likeliest class, and a ``probability_column`` per class."""
    import numpy as np

    out = {}
    for head in heads:
        values = predictions[head.name]
        if head.classes:
            out[head.name] = np.asarray(head.classes, dtype=object)[values.argmax(axis=1)]
            out.update({probability_column(head.name, c): values[:, i] for i, c in enumerate(head.classes)})
        else:
            out[head.name] = values
    return out


@dataclass(frozen=True)
class ModelConfig:
    architecture: str  # a key of ARCHITECTURES
    n_numeric: int
    cardinalities: list[int]
    heads: list[HeadConfig]
    hidden_units: list[int] = field(default_factory=lambda: [64, 32])
    embedding_dim: int = 8
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        heads = [HeadConfig(**h) for h in data["heads"]]
        return cls(**{**data, "heads": heads})


def build_model(config: ModelConfig) -> nn.Module:
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {config.architecture!r} (known: {sorted(ARCHITECTURES)})")
    module, _, name = ARCHITECTURES[config.architecture].module.partition(":")
    return getattr(importlib.import_module(module), name)(config)
