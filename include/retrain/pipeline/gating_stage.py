"""Stages 4 to 6: register the challenger, score it and the champion on the same holdout, decide,
then promote (check-and-set on the champion alias) or reject. Every decision is written down."""

from __future__ import annotations

import json
import logging

from retrain.config import LoadedSpec, ModelSpec
from retrain.data.freshness import DataSnapshot
from retrain.settings import get_settings
from retrain.tracking.gate import GateCheck, GateDecision, bootstrap_improvement, decide

log = logging.getLogger(__name__)


def _predict(model_uri: str, holdout_table, spec: ModelSpec):
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_uri)
    frame = holdout_table.select(spec.features.columns).to_pandas()
    predictions = model.predict(frame)
    return {head.name: predictions[head.name].to_numpy() for head in spec.heads}


def _scores(spec: ModelSpec, labels: dict, predictions: dict) -> dict[str, dict[str, float]]:
    from retrain.training.metrics import head_metrics

    return {h.name: head_metrics(h.kind, labels[h.name], predictions[h.name]) for h in spec.heads}


def _slice_scores(spec: ModelSpec, holdout_table, labels: dict, predictions: dict) -> dict:
    """Holdout metrics per value of each slice column: {column: {value: {head: {metric: v}}}}."""
    import numpy as np

    out: dict = {}
    for column in spec.evaluation.slices:
        values = np.asarray(holdout_table.column(column).to_pylist(), dtype=object)
        for value in sorted({v for v in values if v is not None}):
            mask = values == value
            out.setdefault(column, {})[str(value)] = {
                "rows": int(mask.sum()),
                **_scores(spec, {k: v[mask] for k, v in labels.items()}, {k: v[mask] for k, v in predictions.items()}),
            }
    return out


def _log_head_plots(spec: ModelSpec, labels: dict, predictions: dict) -> None:
    import mlflow

    from retrain.tracking.plots import binary_head_plots, regression_head_plots

    for head in spec.heads:
        plot = binary_head_plots if head.kind == "binary" else regression_head_plots
        mlflow.log_figure(plot(head.name, labels[head.name], predictions[head.name]), f"plots/{head.name}.png")


def evaluate(loaded: LoadedSpec, snapshot_dict: dict, trained: dict) -> dict:
    """Register the candidate as ``challenger``; score it and the current champion on this run's holdout."""
    import mlflow

    from retrain.pipeline.training_stage import load_split
    from retrain.tracking import mlflow_store, registry

    spec, settings = loaded.spec, get_settings()
    client = mlflow_store.connect(settings)
    name = spec.registered_model_name
    run = client.get_run(trained["run_id"])
    challenger = registry.register_challenger(
        client, name, trained["run_id"], trained["model_uri"],
        tags={"retrain.model": name, registry.SHA_TAG: run.data.tags.get(registry.SHA_TAG, "{}"),
              "retrain.data_fingerprint": run.data.tags.get("retrain.data_fingerprint", "")},
    )
    _, holdout = load_split(spec, DataSnapshot.from_dict(snapshot_dict))
    labels = {h.name: holdout.column(h.label).to_numpy(zero_copy_only=False) for h in spec.heads}
    candidate_pred = _predict(trained["model_uri"], holdout, spec)
    candidate = _scores(spec, labels, candidate_pred)
    slices = _slice_scores(spec, holdout, labels, candidate_pred)
    champion = mlflow_store.champion_version(client, name)
    champion_scores, significance = None, {}
    if champion is not None:
        champion_pred = _predict(f"models:/{name}/{champion.version}", holdout, spec)
        champion_scores = _scores(spec, labels, champion_pred)
        for head in spec.heads:
            rules = spec.gate.heads.get(head.name)
            for metric in rules.require_significant_improvement if rules else []:
                significance.setdefault(head.name, {})[metric] = bootstrap_improvement(
                    head.kind, metric, labels[head.name], candidate_pred[head.name], champion_pred[head.name],
                    spec.gate.bootstrap_samples, spec.gate.confidence, seed=spec.training.seed,
                )
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.log_metrics({f"{h}.{m}": v for h, ms in candidate.items() for m, v in ms.items()})
        if champion_scores:
            mlflow.log_metrics({f"champion.{h}.{m}": v for h, ms in champion_scores.items() for m, v in ms.items()})
            mlflow.set_tag("retrain.compared_with_champion_version", str(champion.version))
        if significance:
            mlflow.log_dict(significance, "gate/bootstrap.json")
        if slices:
            mlflow.log_dict(slices, "evaluation/slices.json")
        mlflow.log_param("holdout_rows", holdout.num_rows)
        mlflow.set_tag("retrain.challenger_version", challenger)
        _log_head_plots(spec, labels, candidate_pred)
    for head, metrics in candidate.items():
        log.info("holdout %s: %s", head, ", ".join(f"{m}={v:.4f}" for m, v in metrics.items()))
    return {
        "candidate": candidate,
        "champion": champion_scores,
        "champion_version": str(champion.version) if champion else None,
        "challenger_version": challenger,
        "significance": significance,
        "slices": slices,
        "holdout_rows": holdout.num_rows,
    }


def gate(loaded: LoadedSpec, evaluation: dict, trained: dict) -> dict:
    """Apply the spec's gate and record the decision on the run and on the challenger version."""
    from retrain.tracking import mlflow_store

    spec = loaded.spec
    decision = decide(
        spec.gate, spec.heads, evaluation["candidate"], evaluation["champion"], evaluation["champion_version"],
        significance=evaluation.get("significance"),
    )
    client = mlflow_store.connect(get_settings())
    verdict = "promote" if decision.promote else "reject"
    reasons = "; ".join(decision.reasons)[:4500]
    client.set_tag(trained["run_id"], "retrain.gate_decision", verdict)
    client.set_tag(trained["run_id"], "retrain.gate_reasons", reasons)
    client.log_dict(trained["run_id"], decision.to_dict(), "gate/decision.json")
    version = evaluation["challenger_version"]
    for key, value in (
        ("retrain.gate_decision", verdict),
        ("retrain.gate_reasons", reasons),
        ("retrain.gate_checks", json.dumps(decision.to_dict()["checks"])[:4500]),
        ("retrain.gated_against_champion", evaluation["champion_version"] or "none"),
    ):
        client.set_model_version_tag(spec.registered_model_name, version, key, value)
    log.info("gate decision for %s version %s: %s", spec.name, version, decision.summary())
    return decision.to_dict()


def _decision_from_dict(data: dict) -> GateDecision:
    return GateDecision(
        promote=data["promote"],
        checks=[GateCheck(**c) for c in data["checks"]],
        champion_version=data.get("champion_version"),
    )


def _write_model_card(loaded: LoadedSpec, trained: dict, evaluation: dict, decision: dict) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    from retrain.tracking import mlflow_store
    from retrain.tracking.lineage import MANIFEST_PATH
    from retrain.tracking.model_card import render_model_card

    client = mlflow_store.connect(get_settings())
    run_id = trained["run_id"]
    manifest = mlflow.artifacts.load_dict(f"runs:/{run_id}/{MANIFEST_PATH}")
    try:
        validation = mlflow.artifacts.load_dict(f"runs:/{run_id}/validation/report.json")
    except (MlflowException, OSError):
        validation = None
    card = render_model_card(loaded.spec, evaluation["challenger_version"], manifest, evaluation, decision, validation,
                             cost_usd=trained.get("cost_usd"), hyperparameters=trained.get("hyperparameters"))
    client.log_text(run_id, card, "model_card.md")
    client.update_model_version(loaded.spec.registered_model_name, evaluation["challenger_version"], description=card)


def promote(loaded: LoadedSpec, trained: dict, evaluation: dict, decision: dict, actor: str) -> dict:
    """Verify the challenger's files, then move ``champion`` to it if the champion is still the one it beat."""
    from retrain.tracking import mlflow_store, registry

    spec, client = loaded.spec, mlflow_store.connect(get_settings())
    name, version = spec.registered_model_name, evaluation["challenger_version"]
    registry.verify_artifacts(client, name, version)
    current = mlflow_store.champion_version(client, name)
    if current is not None and str(current.version) == version:
        log.info("%s version %s is already champion (a retry of this task)", name, version)
        return {"promoted": True, "version": version, "previous_champion": evaluation["champion_version"]}
    reason = "; ".join(_decision_from_dict(decision).reasons)
    try:
        move = registry.move_champion(
            client, name, version, expected_current=evaluation["champion_version"], actor=actor, reason=reason
        )
    except registry.PromotionConflict as conflict:
        log.warning("%s", conflict)
        client.set_model_version_tag(name, version, "retrain.gate_decision", "reject")
        client.set_model_version_tag(name, version, "retrain.gate_reasons", str(conflict)[:4500])
        champion = mlflow_store.champion_version(client, name)
        return {"promoted": False, "version": str(champion.version) if champion else None, "reasons": [str(conflict)]}
    _write_model_card(loaded, trained, evaluation, decision)
    log.info("promoted %s version %s to champion (previous champion: %s)", name, version, move.from_version or "none")
    return {"promoted": True, "version": version, "previous_champion": move.from_version}


def reject(loaded: LoadedSpec, trained: dict, evaluation: dict, decision: dict) -> dict:
    """Leave the champion where it is; the reasons are on the run, the version and its model card."""
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    champion = mlflow_store.champion_version(client, loaded.spec.registered_model_name)
    reasons = _decision_from_dict(decision).reasons
    _write_model_card(loaded, trained, evaluation, decision)
    log.warning("candidate from run %s rejected: %s", trained["run_id"], "; ".join(reasons))
    return {"promoted": False, "version": str(champion.version) if champion else None, "reasons": reasons}
