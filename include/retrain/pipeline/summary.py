"""The last stage: a short, readable summary of what the run did, for the log, Slack and `make demo`."""

from __future__ import annotations

from retrain.config import LoadedSpec


def render_summary(loaded: LoadedSpec, run_id: str, trained: dict, evaluation: dict, outcome: dict) -> str:
    spec = loaded.spec
    mlflow_run = (trained or {}).get("run_id") or "unknown"
    lines = [f"Retrained {spec.name} (Airflow run {run_id}, MLflow run {mlflow_run})"]
    from retrain.training.metrics import NOT_SCORES

    for head, metrics in ((evaluation or {}).get("candidate") or {}).items():
        shown = ", ".join(f"{m}={v:.4f}" for m, v in metrics.items() if m not in NOT_SCORES)
        champion = ((evaluation or {}).get("champion") or {}).get(head)
        if champion:
            shown += " | champion: " + ", ".join(f"{m}={v:.4f}" for m, v in champion.items() if m not in NOT_SCORES)
        if "labeled_rows" in metrics:
            shown += f" (on the {int(metrics['labeled_rows']):,} holdout rows with its label)"
        lines.append(f"  {head}: {shown}")
    if (trained or {}).get("cost_usd") is not None:
        lines.append(cost_line(trained))
    for note in (evaluation or {}).get("notes") or []:
        lines.append(f"Note: {note}")
    if outcome.get("shadow"):
        lines.append(f"Gate: PASSED, held in SHADOW as version {outcome.get('shadow_version')}; "
                     f"champion stays at version {outcome.get('version')} until the shadow wins on new partitions.")
        return "\n".join(lines)
    if outcome.get("promoted"):
        previous = outcome.get("previous_champion") or "none"
        lines.append(f"Gate: PROMOTED. Champion is now version {outcome['version']} (was {previous}).")
    else:
        lines.append("Gate: REJECTED. " + "; ".join(outcome.get("reasons", [])))
        lines.append(f"Champion stays at version {outcome.get('version') or 'none'}.")
    return "\n".join(lines)


def cost_line(trained: dict) -> str:
    """What training the candidate cost, and where its hyperparameters came from."""
    chosen = trained.get("hyperparameters") or {}
    how = "tuned" if chosen.get("source") == "tuned" else "the spec's"
    return f"Cost: ${trained['cost_usd']:.4f} to train this candidate ({how} hyperparameters)."
