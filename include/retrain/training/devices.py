"""Pick the device a model trains on: CUDA when present, the CPU otherwise.

Two knobs meet here: ``training.device`` (auto | cpu | cuda) and ``resources.gpu`` (none | preferred |
required). ``required`` (or ``device: cuda``) fails fast without CUDA; ``preferred`` trains on the CPU
with a warning when the worker has no GPU.
"""

from __future__ import annotations

import logging

import torch

from retrain.errors import GpuUnavailableError

log = logging.getLogger(__name__)


def resolve_device(preference: str, gpu: str = "none") -> torch.device:
    """``auto`` takes CUDA when available; ``cuda`` requires it and fails fast without it."""
    has_cuda = torch.cuda.is_available()
    if gpu == "required":
        if preference == "cpu":
            raise ValueError("resources.gpu: required contradicts training.device: cpu")
        preference = "cuda"
    elif gpu == "preferred":
        if preference == "cpu":
            raise ValueError("resources.gpu: preferred contradicts training.device: cpu")
        if not has_cuda:
            log.warning("resources.gpu is 'preferred' but this worker has no CUDA device: training on the CPU")
            return torch.device("cpu")
        preference = "cuda"
    elif gpu != "none":
        raise ValueError(f"unknown gpu setting {gpu!r}")
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not has_cuda:
            raise GpuUnavailableError(
                "the spec requires a GPU (resources.gpu: required or training.device: cuda) but this worker "
                "has no CUDA device; check that the task ran on the 'gpu' queue and that the worker sees its GPU"
            )
        log.info("training on %s", torch.cuda.get_device_name(0))
        return torch.device("cuda")
    if preference != "auto":
        raise ValueError(f"unknown device preference {preference!r}")
    device = torch.device("cuda" if has_cuda else "cpu")
    log.info("training on %s", device if not has_cuda else torch.cuda.get_device_name(0))
    return device
