"""ESMM (Entire Space Multi-task Model), after Ma et al., SIGIR 2018.

Two towers share the embeddings. The first tower predicts the first funnel stage on every impression
(here add-to-cart, head ``atc``); the second predicts conversion *given* that stage. The joint head
(``ctcvr``) is their product, so both heads are trained on the entire impression space and the
conditional tower never sees the sample-selection bias of training on carted rows only.

One module, one state dict, one registered model: the heads are two outputs of the same network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from retrain.models.layers import CategoricalEmbeddings, mlp

if TYPE_CHECKING:
    from retrain.models.base import ModelConfig


class ESMM(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if len(config.heads) != 2 or any(h.kind != "binary" for h in config.heads):
            raise ValueError("ESMM needs exactly two binary heads: the first stage, then the joint one")
        self.config = config
        self.first_stage, self.joint = config.heads[0].name, config.heads[1].name
        self.inputs = CategoricalEmbeddings(config.cardinalities, config.embedding_dim, config.n_numeric)
        self.stage_tower, width = mlp(self.inputs.output_dim, config.hidden_units, config.dropout)
        self.stage_out = nn.Linear(width, 1)
        self.conditional_tower, width = mlp(self.inputs.output_dim, config.hidden_units, config.dropout)
        self.conditional_out = nn.Linear(width, 1)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.inputs(numeric, categorical)
        p_stage = torch.sigmoid(self.stage_out(self.stage_tower(shared)).squeeze(-1))
        p_conditional = torch.sigmoid(self.conditional_out(self.conditional_tower(shared)).squeeze(-1))
        return {self.first_stage: p_stage, self.joint: p_stage * p_conditional}
