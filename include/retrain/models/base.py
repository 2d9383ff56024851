"""The architecture description saved next to the weights, and the builder that turns it into a module.

Weights are stored as a plain state dict (loadable with ``torch.load(weights_only=True)``); the
architecture is rebuilt from this config and the code in this package, never unpickled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class HeadConfig:
    name: str
    kind: str  # "binary" or "regression"
    label_mean: float = 0.0  # regression heads predict in label units: z * label_std + label_mean
    label_std: float = 1.0


@dataclass(frozen=True)
class ModelConfig:
    architecture: str  # "esmm" or "tabular_mlp"
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
    if config.architecture == "esmm":
        from retrain.models.esmm import ESMM

        return ESMM(config)
    if config.architecture == "tabular_mlp":
        from retrain.models.tabular import TabularMLP

        return TabularMLP(config)
    raise ValueError(f"unknown architecture {config.architecture!r}")
