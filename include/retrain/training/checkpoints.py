"""Per-epoch training checkpoints, written atomically and read back with ``torch.load(weights_only=True)``.

A checkpoint holds only state dicts, tensors and plain numbers: model and optimizer state, the torch CPU
RNG state, the state of the generator that draws each epoch's permutation, the epoch just finished, the
best holdout loss so far and the per-epoch history. A retry of a training task resumes from it and, on the
CPU with fixed seeds, ends with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

LAST = "last.pt"


def checkpoint_dir_for_run(run_id: str, root: str | Path | None = None) -> Path:
    """Where the checkpoints of one MLflow run live: ``RETRAIN_CHECKPOINT_DIR`` or ``<local_state>/checkpoints``."""
    if root is None:
        from retrain.settings import get_settings

        settings = get_settings()
        root = settings.checkpoint_dir or settings.local_state / "checkpoints"
    return Path(root) / run_id


def remove_unneeded(keep_run_id: str | None, is_ended, root: str | Path | None = None) -> list[str]:
    """Delete the checkpoint folders of runs that ``is_ended(run_ids)`` says have ended (they are never
    resumed: a retry resumes only its own RUNNING or FAILED run, and an ended run's model is logged or
    abandoned). ``keep_run_id`` is never removed. Returns the removed run ids."""
    import shutil

    base = checkpoint_dir_for_run("x", root).parent
    if not base.is_dir():
        return []
    candidates = [p.name for p in base.iterdir() if p.is_dir() and p.name != keep_run_id]
    removed = []
    for run_id in is_ended(candidates):
        shutil.rmtree(base / run_id, ignore_errors=True)
        removed.append(run_id)
        log.info("removed checkpoints of ended MLflow run %s", run_id)
    return removed


def save_checkpoint(folder: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``folder/last.pt`` atomically: a temporary file in the same folder, fsync, rename."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / LAST
    fd, tmp = tempfile.mkstemp(prefix=".last-", suffix=".pt.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint(folder: str | Path | None) -> dict[str, Any] | None:
    """The last checkpoint in ``folder``, or None when there is none. Only tensors and plain data are loaded."""
    if folder is None:
        return None
    path = Path(folder) / LAST
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    log.info("found checkpoint %s after epoch %d", path, state["epoch"])
    return state
