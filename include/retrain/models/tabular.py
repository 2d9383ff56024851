"""A generic tabular model: embeddings for categorical columns, an MLP, one output per head."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from retrain.models.layers import CategoricalEmbeddings, mlp

if TYPE_CHECKING:
    from retrain.models.base import ModelConfig


class TabularMLP(nn.Module):
    """Works on any table a spec describes. Binary heads output probabilities, multiclass heads one probability
    per class, regression heads label units."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.inputs = CategoricalEmbeddings(config.cardinalities, config.embedding_dim, config.n_numeric)
        self.body, width = mlp(self.inputs.output_dim, config.hidden_units, config.dropout)
        self.outputs = nn.ModuleDict({head.name: nn.Linear(width, head.outputs) for head in config.heads})

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.body(self.inputs(numeric, categorical))
        predictions = {}
        for head in self.config.heads:
            raw = self.outputs[head.name](hidden)
            if head.kind == "multiclass":
                predictions[head.name] = torch.softmax(raw, dim=-1)
                continue
            raw = raw.squeeze(-1)
            if head.kind == "binary":
                predictions[head.name] = torch.sigmoid(raw)
            else:
                predictions[head.name] = raw * head.label_std + head.label_mean
        return predictions
