"""Which hyperparameters a training run uses.

The tuning DAG's train task uses the study's best configuration; every other run uses the champion's
hyperparameters when the champion was trained with tuned ones from the same search, else the spec's. A tuned
configuration therefore reaches the daily retrain only by winning the gate once.
"""

from __future__ import annotations

import json
import logging

from retrain.config import ModelSpec
from retrain.training.tuning import apply, space_sha256, spec_values

log = logging.getLogger(__name__)

SOURCE_TAG = "retrain.hyperparameters_source"
PARAMS_TAG = "retrain.hyperparameters"
SPACE_TAG = "retrain.tuning.space_sha256"
TUNING_RUN_TAG = "retrain.tuning_run_id"


def hyperparameter_tags(record: dict) -> dict[str, str]:
    tags = {SOURCE_TAG: record["source"], PARAMS_TAG: json.dumps(record["params"], sort_keys=True)}
    if record.get("tuning_run_id"):
        tags[TUNING_RUN_TAG] = record["tuning_run_id"]
    if record.get("space_sha256"):
        tags[SPACE_TAG] = record["space_sha256"]
    return tags


def hyperparameters_for_training(client, spec: ModelSpec, tuned: dict | None = None) -> tuple[ModelSpec, dict]:
    """The spec to train with and a record of where its hyperparameters came from (``source``: ``tuned`` or
    ``spec``; ``params``; for tuned ones the tuning run, the search's hash, the best value and trial count)."""
    if tuned is not None:
        return apply(spec, tuned["best_params"]), _tuned_record(spec, tuned)
    fixed = {"source": "spec", "params": spec_values(spec)}
    if spec.tuning is None:
        return spec, fixed
    from retrain.tracking import mlflow_store

    champion = mlflow_store.champion_version(client, spec.registered_model_name)
    if champion is None or not champion.run_id:
        return spec, fixed
    tags = client.get_run(champion.run_id).data.tags
    if tags.get(SOURCE_TAG) != "tuned" or tags.get(SPACE_TAG) != space_sha256(spec):
        return spec, fixed
    params = json.loads(tags[PARAMS_TAG])
    log.info("%s: training with the champion's tuned hyperparameters (version %s): %s",
             spec.name, champion.version, params)
    record = {"source": "tuned", "params": params, "tuning_run_id": tags.get(TUNING_RUN_TAG),
              "space_sha256": tags[SPACE_TAG], "via_champion_version": str(champion.version)}
    return apply(spec, params), record


def _tuned_record(spec: ModelSpec, tuned: dict) -> dict:
    return {"source": "tuned", "params": {**spec_values(spec), **tuned["best_params"]},
            "tuning_run_id": tuned["tuning_run_id"], "space_sha256": tuned["space_sha256"],
            "metric": tuned["metric"], "best_value": tuned["best_value"], "trials": tuned["trials"]}
