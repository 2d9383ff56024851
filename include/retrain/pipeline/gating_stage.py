"""Stages 4 to 6: score candidate and champion on the same holdout, decide, then promote or reject."""

from __future__ import annotations

import json
import logging

from retrain.config import LoadedSpec
from retrain.data.freshness import DataSnapshot
from retrain.settings import get_settings
from retrain.tracking.gate import GateCheck, GateDecision, decide

log = logging.getLogger(__name__)


def _score(model_uri: str, holdout_table, spec) -> dict[str, dict[str, float]]:
    import mlflow.pyfunc

    from retrain.training.metrics import head_metrics

    model = mlflow.pyfunc.load_model(model_uri)
    frame = holdout_table.select(spec.features.columns).to_pandas()
    frame[spec.features.numeric] = frame[spec.features.numeric].astype("float64")
    predictions = model.predict(frame)
    scores = {}
    for head in spec.heads:
        y_true = holdout_table.column(head.label).to_numpy(zero_copy_only=False)
        scores[head.name] = head_metrics(head.kind, y_true, predictions[head.name].to_numpy())
    return scores


def evaluate(loaded: LoadedSpec, snapshot_dict: dict, trained: dict) -> dict:
    """Metrics per head for the candidate and for the current champion, on this run's holdout."""
    import mlflow

    from retrain.pipeline.training_stage import load_split
    from retrain.tracking import mlflow_store

    spec, settings = loaded.spec, get_settings()
    client = mlflow_store.connect(settings)
    _, holdout = load_split(spec, DataSnapshot.from_dict(snapshot_dict))
    candidate = _score(trained["model_uri"], holdout, spec)
    champion = mlflow_store.champion_version(client, spec.registered_model_name)
    champion_scores = None
    if champion is not None:
        champion_scores = _score(f"models:/{spec.registered_model_name}/{champion.version}", holdout, spec)
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.log_metrics({f"{h}.{m}": v for h, ms in candidate.items() for m, v in ms.items()})
        if champion_scores:
            mlflow.log_metrics({f"champion.{h}.{m}": v for h, ms in champion_scores.items() for m, v in ms.items()})
            mlflow.set_tag("retrain.compared_with_champion_version", champion.version)
        mlflow.log_param("holdout_rows", holdout.num_rows)
    for head, metrics in candidate.items():
        log.info("holdout %s: %s", head, ", ".join(f"{m}={v:.4f}" for m, v in metrics.items()))
    return {
        "candidate": candidate,
        "champion": champion_scores,
        "champion_version": champion.version if champion else None,
        "holdout_rows": holdout.num_rows,
    }


def gate(loaded: LoadedSpec, evaluation: dict, trained: dict) -> dict:
    """Apply the spec's gate and record the decision on the MLflow run."""
    from retrain.tracking import mlflow_store

    spec = loaded.spec
    decision = decide(
        spec.gate, spec.heads, evaluation["candidate"], evaluation["champion"], evaluation["champion_version"]
    )
    client = mlflow_store.connect(get_settings())
    client.set_tag(trained["run_id"], "retrain.gate_decision", "promote" if decision.promote else "reject")
    client.set_tag(trained["run_id"], "retrain.gate_reasons", "; ".join(decision.reasons)[:4500])
    client.log_dict(trained["run_id"], decision.to_dict(), "gate/decision.json")
    log.info("gate decision for %s: %s", spec.name, decision.summary())
    return decision.to_dict()


def _decision_from_dict(data: dict) -> GateDecision:
    return GateDecision(
        promote=data["promote"],
        checks=[GateCheck(**c) for c in data["checks"]],
        champion_version=data.get("champion_version"),
    )


def promote(loaded: LoadedSpec, trained: dict, decision: dict) -> dict:
    """Register the candidate (once, even on retries) and move the champion alias to it."""
    from retrain.tracking import mlflow_store

    spec, client = loaded.spec, mlflow_store.connect(get_settings())
    name = spec.registered_model_name
    gate_decision = _decision_from_dict(decision)
    version = mlflow_store.version_for_run(client, name, trained["run_id"])
    if version is None:
        import mlflow

        version = mlflow.register_model(trained["model_uri"], name, tags={"retrain.model": name})
    client.set_model_version_tag(name, version.version, "retrain.gate_decision", "promote")
    client.set_model_version_tag(name, version.version, "retrain.gate_reasons", "; ".join(gate_decision.reasons)[:4500])
    client.set_model_version_tag(name, version.version, "retrain.gate_checks", json.dumps(decision["checks"])[:4500])
    current = mlflow_store.champion_version(client, name)
    previous = current.version if current is not None else None
    if previous is not None and previous != version.version:
        client.set_registered_model_alias(name, mlflow_store.PREVIOUS_CHAMPION, previous)
    client.set_registered_model_alias(name, mlflow_store.CHAMPION, version.version)
    log.info("promoted %s version %s to champion (previous champion: %s)", name, version.version, previous or "none")
    return {"promoted": True, "version": version.version, "previous_champion": previous}


def reject(loaded: LoadedSpec, trained: dict, decision: dict) -> dict:
    """Leave the champion where it is; the reasons are already on the run."""
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    champion = mlflow_store.champion_version(client, loaded.spec.registered_model_name)
    reasons = _decision_from_dict(decision).reasons
    log.warning("candidate from run %s rejected: %s", trained["run_id"], "; ".join(reasons))
    return {"promoted": False, "version": champion.version if champion else None, "reasons": reasons}
