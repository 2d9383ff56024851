"""PyTorch model architectures. Each is rebuilt from a JSON-friendly ModelConfig plus a state dict."""

from retrain.models.base import ModelConfig, build_model

__all__ = ["ModelConfig", "build_model"]
