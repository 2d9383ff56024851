"""Per-run overrides of a spec's training settings (the trigger form's advanced section).

The run trains with the overridden values (so MLflow's params show what was used), and the tag
``retrain.overrides`` plus ``overrides.json`` say which values came from the run rather than the spec file.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from retrain.config import LoadedSpec, TrainingSpec

OVERRIDES_TAG = "retrain.overrides"


def with_overrides(loaded: LoadedSpec, overrides: dict[str, Any]) -> LoadedSpec:
    """The spec as this run trains it. Only ``training.*`` fields; the values are validated like the spec's."""
    if not overrides:
        return loaded
    spec = loaded.spec
    training = TrainingSpec.model_validate({**spec.training.model_dump(), **overrides})
    return dataclasses.replace(loaded, spec=spec.model_copy(update={"training": training}))


def record_overrides(run_id: str, overrides: dict[str, Any], spec_training: TrainingSpec) -> None:
    """Mark the MLflow run: which settings this run overrode, and what the spec file said."""
    if not overrides:
        return
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    record = {name: {"value": value, "spec": getattr(spec_training, name)} for name, value in sorted(overrides.items())}
    client.set_tag(run_id, OVERRIDES_TAG, json.dumps(overrides, sort_keys=True))
    client.log_dict(run_id, record, "overrides.json")
