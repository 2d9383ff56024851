"""A trained model as files: architecture config, feature encoder and a plain state dict.

``weights.pt`` holds only tensors, so it loads with ``torch.load(weights_only=True)``; the module is
rebuilt from ``model_config.json`` and this package's code. Nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from retrain.data.encoding import FeatureEncoder
from retrain.models.base import ModelConfig, build_model
from retrain.training.trainer import predict

WEIGHTS = "weights.pt"
CONFIG = "model_config.json"
ENCODER = "encoder.json"


@dataclass
class ModelBundle:
    config: ModelConfig
    encoder: FeatureEncoder
    model: nn.Module

    @property
    def feature_columns(self) -> list[str]:
        return [*self.encoder.numeric, *self.encoder.categorical]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save(state, folder / WEIGHTS)
        (folder / CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2))
        (folder / ENCODER).write_text(json.dumps(self.encoder.to_dict(), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
        folder = Path(folder)
        config = ModelConfig.from_dict(json.loads((folder / CONFIG).read_text()))
        encoder = FeatureEncoder.from_dict(json.loads((folder / ENCODER).read_text()))
        model = build_model(config)
        try:
            state = torch.load(folder / WEIGHTS, map_location=device, weights_only=True)
        except Exception as exc:  # torch's own message suggests unpickling anyway; never pass that on
            from retrain.errors import UnusableModelError

            raise UnusableModelError(
                f"{folder / WEIGHTS} is not a plain state dict of tensors ({type(exc).__name__}); "
                "it is refused, not unpickled"
            ) from None
        model.load_state_dict(state)
        return cls(config=config, encoder=encoder, model=model.to(device).eval())

    def predict_table(self, table: pa.Table, device: torch.device | None = None) -> dict[str, np.ndarray]:
        device = device or next(self.model.parameters()).device
        return predict(self.model, self.encoder.transform(table), device)
