"""Stages 4 to 6: register the challenger, score it and the champion on the same holdout, decide,
then promote (check-and-set on the champion alias) or reject. Every decision is written down."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from retrain.config import LoadedSpec, ModelSpec
from retrain.data.freshness import DataSnapshot
from retrain.pipeline.scoring import head_scores as _scores
from retrain.pipeline.scoring import predict_version as _predict
from retrain.settings import get_settings
from retrain.tracking.gate import GateCheck, GateDecision, bootstrap_improvement, decide

log = logging.getLogger(__name__)


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

    from retrain.tracking.plots import binary_head_plots, multiclass_head_plots, regression_head_plots
    from retrain.training.metrics import labeled_rows

    for head in spec.heads:
        labeled = labeled_rows(labels[head.name])
        y_true, y_pred = labels[head.name][labeled], predictions[head.name][labeled]
        figure = (binary_head_plots(head.name, y_true, y_pred) if head.kind == "binary"
                  else multiclass_head_plots(head.name, y_true, y_pred, head.classes) if head.kind == "multiclass"
                  else regression_head_plots(head.name, y_true, y_pred))
        mlflow.log_figure(figure, f"plots/{head.name}.png")


def evaluate(loaded: LoadedSpec, snapshot_dict: dict, trained: dict, *, holdout=None, plots: bool = True) -> dict:
    """Register the candidate as ``challenger``; score it and the current champion on this run's holdout
    (``holdout``: rows already split off, as a segment model's are; else the snapshot's). ``plots=False``
    skips the per-head figures (seconds each; segment models are many)."""
    import mlflow

    from retrain.data.encoding import head_labels
    from retrain.data.split import champion_seen_rows_from_tags, same_spec_and_data
    from retrain.pipeline.training_stage import load_split
    from retrain.tracking import mlflow_store, registry, tags

    spec, settings = loaded.spec, get_settings()
    client = mlflow_store.connect(settings)
    name = spec.registered_model_name
    shadow = None
    if spec.gate.shadow is not None:  # first: a shadow that wins now makes the champion this candidate faces
        from retrain.pipeline.shadow_stage import review

        shadow = review(loaded, client, DataSnapshot.from_dict(snapshot_dict), actor=f"mlflow run {trained['run_id']}")
    run = client.get_run(trained["run_id"])
    challenger = registry.register_challenger(
        client, name, trained["run_id"], trained["model_uri"],
        tags={tags.MODEL: name, tags.ARTIFACT_SHA256: run.data.tags.get(tags.ARTIFACT_SHA256, "{}"),
              tags.DATA_FINGERPRINT: run.data.tags.get(tags.DATA_FINGERPRINT, "")},
    )
    if holdout is None:
        _, holdout = load_split(spec, DataSnapshot.from_dict(snapshot_dict))
    labels = head_labels(holdout, spec.heads, spec.data.drop_unlabeled_rows)
    candidate_pred = _predict(client, name, challenger, holdout, spec)
    candidate = _scores(spec, labels, candidate_pred)
    slices = _slice_scores(spec, holdout, labels, candidate_pred)
    champion = mlflow_store.champion_version(client, name)
    champion_scores, significance, unusable = None, {}, None
    champion_tags = client.get_run(champion.run_id).data.tags if champion is not None else None
    seen = champion_seen_rows_from_tags(holdout, champion_tags)
    if seen.rows:
        log.warning("%d holdout rows were in the champion's training data (%s)", seen.rows, seen.how)
    champion_pred = None
    if champion is not None:
        champion_pred, unusable = _champion_predictions(loaded, client, str(champion.version), challenger, holdout)
    if champion_pred is not None:
        champion_scores = _scores(spec, labels, champion_pred)
        for head in spec.heads:
            rules = spec.gate.heads.get(head.name)
            for metric in rules.require_significant_improvement if rules else []:
                significance.setdefault(head.name, {})[metric] = bootstrap_improvement(
                    head.kind, metric, labels[head.name], candidate_pred[head.name], champion_pred[head.name],
                    spec.gate.bootstrap_samples, spec.gate.confidence, seed=spec.training.seed,
                )
    metrics = {f"{h}.{m}": v for h, ms in candidate.items() for m, v in ms.items()}
    metrics["gate.champion_seen_holdout_rows"] = seen.rows
    run_tags = {"retrain.challenger_version": challenger}
    notes = _too_good_notes(spec, candidate)
    if notes:
        run_tags[tags.EVALUATION_NOTE] = " ".join(notes)[:4500]
    if unusable:
        run_tags["retrain.champion_unusable"] = unusable[:4500]
    if champion_scores:
        metrics.update({f"champion.{h}.{m}": v for h, ms in champion_scores.items() for m, v in ms.items()})
        run_tags["retrain.compared_with_champion_version"] = str(champion.version)
    mlflow_store.log_batch(client, trained["run_id"], metrics, {"holdout_rows": holdout.num_rows}, run_tags)
    if significance:
        client.log_dict(trained["run_id"], significance, "gate/bootstrap.json")
    if slices:
        client.log_dict(trained["run_id"], slices, "evaluation/slices.json")
    if plots:
        with mlflow.start_run(run_id=trained["run_id"]):
            _log_head_plots(spec, labels, candidate_pred)
    for head, metrics in candidate.items():
        log.info("holdout %s: %s", head, ", ".join(f"{m}={v:.4f}" for m, v in metrics.items()))
    return {
        "candidate": candidate,
        "champion": champion_scores,
        "champion_version": str(champion.version) if champion else None,
        "champion_unusable": unusable,
        "challenger_version": challenger,
        "significance": significance,
        "slices": slices,
        "holdout_rows": holdout.num_rows,
        "champion_seen_holdout_rows": seen.rows,
        "champion_seen_how": seen.how,
        "same_spec_and_data_as_champion": same_spec_and_data(run.data.tags, champion_tags),
        "newest_partition": Path(snapshot_dict["partitions"][-1]).name,
        "shadow": shadow,
        "notes": notes,
    }


def _too_good_notes(spec: ModelSpec, candidate: dict) -> list[str]:
    """A note per head whose holdout score is too good to be true: said, not gated (some problems are easy)."""
    from retrain.training.metrics import too_good_to_be_true

    notes = []
    for head in spec.heads:
        score = too_good_to_be_true(head.kind, candidate.get(head.name, {}))
        if score:
            notes.append(f"Too good to be true: head '{head.name}' scores {score} on the holdout. A feature may "
                         f"carry the label '{head.label}' (a value set after the outcome: a refund flag, a "
                         "cancellation date); check the features before trusting this model.")
    if notes:
        log.warning("%s", " ".join(notes))
    return notes


UNUSABLE_CHAMPION_RULE = (
    "champion version {version} is unusable ({reason}); by rule it counts as no champion: only the "
    "thresholds apply, and a candidate that clears them replaces it"
)


def _champion_predictions(loaded: LoadedSpec, client, version: str, challenger: str, holdout):
    """The champion's holdout predictions, or ``(None, reason)`` when it fails verification or cannot be
    loaded. An unusable champion must not block every later run: the gate then treats it as absent
    (``UNUSABLE_CHAMPION_RULE``, docs/security.md) and the spec's notifiers are told now."""
    from retrain.alerts.notifiers import Alert, deliver, notifiers_for
    from retrain.errors import ArtifactIntegrityError, UnusableModelError

    spec = loaded.spec
    try:
        return _predict(client, spec.registered_model_name, version, holdout, spec), None
    except (ArtifactIntegrityError, UnusableModelError) as exc:
        reason = str(exc)
    log.error("%s champion version %s is unusable: %s", spec.name, version, reason)
    deliver(Alert(
        spec.alerts.slack_channel,
        f"{spec.name}: champion version {version} cannot be used: {reason}. Candidate version {challenger} is "
        "gated on the thresholds alone and replaces it if it clears them. To choose a champion yourself: "
        f"retrain rollback {spec.registered_model_name} --to VERSION --reason '...'",
    ), notifiers_for(spec.alerts.notifiers))
    return None, reason


def gate(loaded: LoadedSpec, evaluation: dict, trained: dict) -> dict:
    """Apply the spec's gate and record the decision on the run and on the challenger version."""
    from retrain.tracking import mlflow_store

    spec = loaded.spec
    decision = decide(
        spec.gate, spec.heads, evaluation["candidate"], evaluation["champion"], evaluation["champion_version"],
        significance=evaluation.get("significance"),
        champion_seen_holdout_rows=evaluation.get("champion_seen_holdout_rows", 0),
        seen_how=evaluation.get("champion_seen_how", ""),
        same_spec_and_data=evaluation.get("same_spec_and_data_as_champion", False),
        holdout_rows=evaluation.get("holdout_rows"),
    )
    shadow = spec.gate.shadow is not None and decision.promote and evaluation["champion_version"] is not None
    held = (evaluation.get("shadow") or {}).get("status") == "pending"
    if shadow and held:  # one shadow at a time: it finishes on the partitions after its own data
        waiting = evaluation["shadow"]
        decision = GateDecision(False, [*decision.checks, GateCheck(
            "*", "*", "shadow_pending", 0.0, 0.0, False,
            note=f"version {waiting['version']}, {len(waiting['scores'])} of {waiting['partitions']} partitions scored",
        )], decision.champion_version)
    client = mlflow_store.connect(get_settings())
    verdict = "promote" if decision.promote else "reject"
    result = decision.to_dict()
    if evaluation.get("champion_unusable"):
        result["champion_unusable"] = evaluation["champion_unusable"]
        result["reasons"] = [UNUSABLE_CHAMPION_RULE.format(version=evaluation["champion_version"],
                                                           reason=evaluation["champion_unusable"]), *result["reasons"]]
    reasons = "; ".join(result["reasons"])[:4500]
    mlflow_store.log_batch(client, trained["run_id"], tags={"retrain.gate_decision": verdict,
                                                            "retrain.gate_reasons": reasons})
    client.log_dict(trained["run_id"], result, "gate/decision.json")
    version = evaluation["challenger_version"]
    for key, value in (
        ("retrain.gate_decision", verdict),
        ("retrain.gate_reasons", reasons),
        ("retrain.gate_checks", json.dumps(decision.to_dict()["checks"])[:4500]),
        ("retrain.gated_against_champion", evaluation["champion_version"] or "none"),
    ):
        client.set_model_version_tag(spec.registered_model_name, version, key, value)
    log.info("gate decision for %s version %s: %s", spec.name, version, decision.summary())
    return {**result, **({"shadow": True} if shadow and not held else {})}


def _decision_from_dict(data: dict) -> GateDecision:
    return GateDecision(
        promote=data["promote"],
        checks=[GateCheck(**c) for c in data["checks"]],
        champion_version=data.get("champion_version"),
    )


def _write_model_card(loaded: LoadedSpec, trained: dict, evaluation: dict, decision: dict) -> None:
    from mlflow.exceptions import MlflowException

    from retrain.errors import ArtifactIntegrityError
    from retrain.tracking import mlflow_store
    from retrain.tracking.lineage import MANIFEST_PATH, VALIDATION_PATH, load_verified_document
    from retrain.tracking.model_card import render_model_card, set_card

    client = mlflow_store.connect(get_settings())
    run_id = trained["run_id"]
    # a segment model passes both in: the chunk's manifest, and no report (one contract covers all segments);
    # a single model's come from its run, and the card quotes them only as recorded at training
    tags = None if trained.get("manifest") and "validation" in trained else client.get_run(run_id).data.tags
    try:
        manifest = trained.get("manifest") or load_verified_document(run_id, tags, MANIFEST_PATH)
    except (MlflowException, OSError, ArtifactIntegrityError) as exc:  # never fail a decision already recorded
        log.error("no model card for run %s: %s", run_id, exc)
        return
    validation = trained.get("validation")
    if "validation" not in trained:
        try:
            validation = load_verified_document(run_id, tags, VALIDATION_PATH)
        except (MlflowException, OSError, ArtifactIntegrityError) as exc:
            log.warning("model card of run %s without the data contract's report: %s", run_id, exc)
            validation = None
    card = render_model_card(loaded.spec, evaluation["challenger_version"], manifest, evaluation, decision, validation,
                             cost_usd=trained.get("cost_usd"), hyperparameters=trained.get("hyperparameters"))
    client.log_text(run_id, card, "model_card.md")
    set_card(client, loaded.spec.registered_model_name, evaluation["challenger_version"], card)


def _tag_run_and_version(client, name: str, version: str, run_id: str, tags: dict[str, str]) -> None:
    """The run and the version always carry the same decision tags."""
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
        client.set_model_version_tag(name, version, key, value)


def promote(loaded: LoadedSpec, trained: dict, evaluation: dict, decision: dict, actor: str) -> dict:
    """Verify the challenger's files, then move ``champion`` to it if the champion is still the one it beat.

    A champion moved since gating refuses the promotion (a rejection with that reason, on the run and the
    version alike). A promotion lock that stays taken raises ``PromotionLockUnavailable``: the task is
    retried and then alerts; it never turns a passed candidate into a rejection."""
    from retrain.alerts.notifiers import Alert, deliver, notifiers_for
    from retrain.tracking import mlflow_store, registry

    spec, client = loaded.spec, mlflow_store.connect(get_settings())
    name, version = spec.registered_model_name, evaluation["challenger_version"]
    registry.verify_artifacts(client, name, version)
    if decision.get("shadow"):  # passed the gate; promoted only after it wins on the next partitions too
        from retrain.pipeline.shadow_stage import pending, start

        if pending(client, name) is None or pending(client, name)[0] != version:
            start(loaded, client, version, evaluation["champion_version"], evaluation["newest_partition"], actor)
        _write_model_card(loaded, trained, evaluation, decision)
        reason = (f"passed the gate; held in shadow beside champion version {evaluation['champion_version']} for "
                  f"the next {spec.gate.shadow.partitions} partition(s)")
        return {"promoted": False, "shadow": True, "shadow_version": version,
                "version": evaluation["champion_version"], "reasons": [reason]}
    current = mlflow_store.champion_version(client, name)
    if current is not None and str(current.version) == version:
        log.info("%s version %s is already champion (a retry of this task)", name, version)
        return {"promoted": True, "version": version, "previous_champion": evaluation["champion_version"]}
    outside = registry.outside_move(client, name)
    if outside is not None:
        deliver(Alert(spec.alerts.slack_channel, f"{spec.name}: {outside.reason}. Recorded in `retrain history "
                      f"{name}`; this run's candidate was gated against version {evaluation['champion_version']}."),
                notifiers_for(spec.alerts.notifiers))
    reason = "; ".join(decision.get("reasons") or _decision_from_dict(decision).reasons)
    try:
        move = registry.move_champion(
            client, name, version, expected_current=evaluation["champion_version"], actor=actor, reason=reason
        )
    except registry.PromotionConflict as conflict:
        log.warning("%s", conflict)
        _tag_run_and_version(client, name, version, trained["run_id"], {
            "retrain.gate_decision": "reject", "retrain.gate_reasons": str(conflict)[:4500],
            "retrain.promotion": "refused: champion moved after gating"})
        champion = mlflow_store.champion_version(client, name)
        return {"promoted": False, "version": str(champion.version) if champion else None, "reasons": [str(conflict)]}
    except registry.PromotionLockUnavailable as busy:
        _tag_run_and_version(client, name, version, trained["run_id"],
                             {"retrain.promotion": f"not done yet: {busy}"[:4500]})
        raise
    _tag_run_and_version(client, name, version, trained["run_id"], {"retrain.promotion": "promoted"})
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
