"""Pick the device a model trains on: CUDA when present, the CPU otherwise."""

from __future__ import annotations

import logging

import torch

from retrain.errors import GpuUnavailableError

log = logging.getLogger(__name__)


def resolve_device(preference: str) -> torch.device:
    """``auto`` takes CUDA when available; ``cuda`` requires it and fails fast without it."""
    has_cuda = torch.cuda.is_available()
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not has_cuda:
            raise GpuUnavailableError("the spec requires a GPU (training.device: cuda) but this worker has none")
        return torch.device("cuda")
    if preference != "auto":
        raise ValueError(f"unknown device preference {preference!r}")
    device = torch.device("cuda" if has_cuda else "cpu")
    log.info("training on %s", device if not has_cuda else torch.cuda.get_device_name(0))
    return device
