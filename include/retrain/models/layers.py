"""Building blocks shared by the architectures."""

from __future__ import annotations

import torch
from torch import nn


class CategoricalEmbeddings(nn.Module):
    """One embedding table per categorical column, concatenated with the numeric columns."""

    def __init__(self, cardinalities: list[int], embedding_dim: int, n_numeric: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(size, embedding_dim) for size in cardinalities)
        self.output_dim = n_numeric + embedding_dim * len(cardinalities)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric] + [table(categorical[:, i]) for i, table in enumerate(self.tables)]
        return torch.cat(parts, dim=1)


def mlp(input_dim: int, hidden_units: list[int], dropout: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    width = input_dim
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = units
    return nn.Sequential(*layers), width
