"""Hyperparameters: the tunable ones, drawing them from a spec's search space, and applying them to a spec.

Pure functions over the spec; the search itself (Optuna, MLflow child runs) is ``retrain.pipeline.tuning_stage``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from retrain.config import ModelSpec, SearchSpace

TRAINING_PARAMS = ("learning_rate", "batch_size", "weight_decay")
ARCHITECTURE_PARAMS = ("hidden_units", "embedding_dim", "dropout")
TUNABLE = (*TRAINING_PARAMS, *ARCHITECTURE_PARAMS)


def spec_values(spec: ModelSpec) -> dict[str, Any]:
    """The spec's own value of every tunable hyperparameter."""
    return {
        **{name: getattr(spec.training, name) for name in TRAINING_PARAMS},
        **{name: getattr(spec.architecture, name) for name in ARCHITECTURE_PARAMS},
    }


def apply(spec: ModelSpec, params: dict[str, Any]) -> ModelSpec:
    """``spec`` with ``params`` in place of its values (unknown names are refused, the rest stay)."""
    unknown = set(params) - set(TUNABLE)
    if unknown:
        raise ValueError(f"not tunable: {sorted(unknown)} (tunable: {list(TUNABLE)})")
    training = {k: v for k, v in params.items() if k in TRAINING_PARAMS}
    architecture = {k: list(v) if k == "hidden_units" else v for k, v in params.items() if k in ARCHITECTURE_PARAMS}
    checked = spec.model_validate({
        **spec.model_dump(),
        "training": {**spec.training.model_dump(), **training},
        "architecture": {**spec.architecture.model_dump(), **architecture},
    })
    return checked


def suggest(trial, space: SearchSpace) -> dict[str, Any]:
    """One point of ``space`` from an Optuna trial; a parameter the space leaves out is not drawn."""
    params: dict[str, Any] = {}
    for name in ("learning_rate", "dropout", "weight_decay"):
        bounds = getattr(space, name)
        if bounds is not None:
            params[name] = trial.suggest_float(name, bounds.low, bounds.high, log=bounds.log)
    for name in ("batch_size", "embedding_dim"):
        choices = getattr(space, name)
        if choices is not None:
            params[name] = trial.suggest_categorical(name, list(choices))
    if space.hidden_units is not None:  # Optuna's categorical choices must be scalars: "64,32"
        drawn = trial.suggest_categorical("hidden_units", [",".join(map(str, h)) for h in space.hidden_units])
        params["hidden_units"] = [int(x) for x in drawn.split(",")]
    return params


def space_sha256(spec: ModelSpec) -> str:
    """Identifies the search (space, metric and the rest of the recipe it tuned) so a result from an older
    search is never applied to a changed spec."""
    assert spec.tuning is not None
    recipe = spec.model_dump(exclude={"schedule", "alerts", "description", "tags", "owner", "gate", "tuning"})
    for name in TRAINING_PARAMS:
        recipe["training"].pop(name)
    for name in ARCHITECTURE_PARAMS:
        recipe["architecture"].pop(name)
    payload = {"recipe": recipe, "space": spec.tuning.space.model_dump(), "metric": spec.tuning.metric}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
