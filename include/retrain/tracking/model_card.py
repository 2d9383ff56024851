"""A model card per registered version: Markdown, logged with the run and set as the version description."""

from __future__ import annotations

from retrain.config import ModelSpec
from retrain.training.metrics import HEADLINE_METRICS, RANKING_METRIC

# MLflow keeps a version's description in a String(5000) column, which PostgreSQL enforces: a longer card failed
# the promotion itself (docs/evaluation.md). The description holds what fits; the run's model_card.md all of it.
DESCRIPTION_LIMIT = 5000
SLICE_SECTION = "### Metrics per slice"


def fit_description(card: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """The card as a version description: whole when it fits, else without the per-slice table (the part that
    grows with the data), else cut at a line, saying so."""
    if len(card) <= limit:
        return card
    start = card.find(SLICE_SECTION)
    if start != -1:
        end = card.find("\n\n", start + len(SLICE_SECTION) + 2)
        rows = card.count("\n| ", start, len(card) if end == -1 else end) - 2  # less the header and its rule
        moved = f"{SLICE_SECTION}\n\n{rows:,} rows, in the run's `model_card.md` and `evaluation/slices.json`."
        card = card[:start] + moved + ("" if end == -1 else card[end:])
        if len(card) <= limit:
            return card
    note = f"\n\n_Cut to fit the registry's {limit:,} characters: the whole card is the run's `model_card.md`._"
    line = card.rfind("\n", 0, limit - len(note))
    return card[:line if line > 0 else limit - len(note)] + note


def set_card(client, name: str, version: str, card: str) -> None:
    """The card as the version's description, fitted to the registry's column."""
    client.update_model_version(name, version, description=fit_description(card))


def _metric_table(candidate: dict, champion: dict | None) -> list[str]:
    rows = ["| head | metric | this version | champion at the time |", "| --- | --- | --- | --- |"]
    for head, metrics in candidate.items():
        for metric, value in metrics.items():
            ref = (champion or {}).get(head, {}).get(metric)
            rows.append(f"| {head} | {metric} | {value:.4f} | {'' if ref is None else f'{ref:.4f}'} |")
    return rows


def _slice_table(slices: dict) -> list[str]:
    if not slices:
        return []
    rows = [SLICE_SECTION, "", "| slice | rows | head | metric | value |", "| --- | --- | --- | --- | --- |"]
    for column, by_value in slices.items():
        for value, scores in by_value.items():
            for head, metrics in scores.items():
                if head == "rows":
                    continue
                for metric, v in metrics.items():
                    if metric in HEADLINE_METRICS:
                        rows.append(f"| {column}={value} | {scores['rows']} | {head} | {metric} | {v:.4f} |")
    return [*rows, ""]


CARD_SECTION = "## Shadow evaluation"


def card_section(shadow: dict) -> str:
    return "\n".join([CARD_SECTION, "", *[f"- {line}" for line in describe(shadow)], ""])


def describe(shadow: dict) -> list[str]:
    """Lines for the Slack summary and the model card: both models' scores per partition and the outcome."""
    lines = []
    for partition, scores in sorted(shadow.get("scores", {}).items()):
        parts = []
        for head, metrics in scores["shadow"].items():
            for metric in RANKING_METRIC.values():
                if metric in metrics:
                    parts.append(f"{head}.{metric} {metrics[metric]:.4f} vs {scores['champion'][head][metric]:.4f}")
        lines.append(f"{partition} ({scores['rows']} rows): " + ", ".join(parts))
    status = shadow.get("status")
    done = len(shadow.get("scores", {}))
    head = (f"Shadow version {shadow.get('version')} vs champion version {shadow.get('champion')}: {status}"
            + (f" ({done} of {shadow.get('partitions')} partitions scored)" if status == "pending" else "")
            + (f": {shadow['reason']}" if shadow.get("reason") else ""))
    return [head, *lines]


def _holdout_rule(spec: ModelSpec) -> str:
    from retrain.data.split import rule_for

    return rule_for(spec).describe()


def _cost_and_hyperparameters(spec: ModelSpec, cost_usd: float | None, chosen: dict | None) -> list[str]:
    lines = ["## Cost and hyperparameters"]
    if cost_usd is not None:
        lines.append(f"- Training this version cost ${cost_usd:.4f} (`retrain costs --model {spec.name}` has the rest)")
    chosen = chosen or {}
    params = ", ".join(f"{k} {v}" for k, v in sorted((chosen.get("params") or {}).items()))
    if chosen.get("source") == "tuned":
        tuning = spec.tuning
        space = ", ".join(sorted(k for k, v in (tuning.space.model_dump() if tuning else {}).items() if v is not None))
        best = chosen.get("best_value")
        lines.append(f"- Hyperparameters were **tuned** (Optuna TPE, median pruning) over {space or 'the spec space'}"
                     + (f": {chosen['trials']} trials, best {chosen.get('metric')} {best:.5f}" if best is not None
                        else f", carried over from champion version {chosen.get('via_champion_version')}")
                     + f" (tuning run `{chosen.get('tuning_run_id')}`)")
    else:
        lines.append("- Hyperparameters are **fixed** by the spec" + (" (its tuning has not won the gate yet)"
                                                                        if spec.tuning is not None else ""))
    if params:
        lines.append(f"- Used: {params}")
    return [*lines, ""]


def render_model_card(
    spec: ModelSpec,
    version: str,
    manifest: dict,
    evaluation: dict,
    decision: dict,
    validation: dict | None,
    cost_usd: float | None = None,
    hyperparameters: dict | None = None,
) -> str:
    heads = ", ".join(f"`{h.name}` ({h.kind}, label `{h.label}`"
                      + (f", 1 where it is `{h.positive}`" if h.positive is not None else "")
                      + (f", classes {', '.join(f'`{c}`' for c in h.classes[:20])}" if h.classes else "") + ")"
                      for h in spec.heads)
    data = manifest["data"]
    verdict = "promoted to champion" if decision["promote"] else "not promoted"
    if decision.get("shadow"):
        verdict = "held in shadow beside the champion (promoted only if it wins on the next partitions)"
    lines = [
        f"# {spec.name}, version {version}",
        "",
        "## Model details",
        f"- Owner: {spec.owner}",
        f"- Architecture: `{spec.architecture.type}`, hidden units {spec.architecture.hidden_units}, "
        f"embedding dim {spec.architecture.embedding_dim}",
        f"- Heads: {heads}. All heads are one model: one set of weights, one version.",
        f"- Code: git `{manifest['code']['git_commit'][:12]}`{' (dirty tree)' if manifest['code']['git_dirty'] else ''}; "
        f"torch {manifest['environment']['torch']}, python {manifest['environment']['python']}",
        f"- Trained by Airflow `{manifest['airflow']['dag_id']}` run `{manifest['airflow']['run_id']}` "
        f"on {manifest['hardware']['device']}",
        "",
        "## Intended use",
        spec.description.strip() or "Batch scoring of the rows described by the spec's features.",
        "",
        "Load for batch prediction: `retrain.tracking.artifacts.load_verified_model(\"models:/" + spec.name
        + "@champion\").predict(frame)` (every file checked against its training-time digest first),",
        "one output column per head. Input columns: " + ", ".join(f"`{c}`" for c in spec.features.columns) + ".",
        "",
        "## Training and evaluation data",
        f"- Dataset `{data['dataset']}`, partitions {data['partitions'][0]} .. {data['partitions'][-1]} "
        f"({len(data['partitions'])} partitions, {data['rows']} rows), as of {data['as_of']}",
        f"- Content fingerprint `{data['fingerprint'][:16]}`",
        f"- Holdout: {_holdout_rule(spec)} ({evaluation.get('holdout_rows')} rows); the champion was scored on "
        f"the same rows, {evaluation.get('champion_seen_holdout_rows', 0)} of which it had trained on",
        "",
        "## Metrics on the holdout",
        *_metric_table(evaluation["candidate"], evaluation.get("champion")),
        "",
        *_slice_table(evaluation.get("slices") or {}),
        "## Data validation",
    ]
    if validation:
        failures = validation.get("failures", [])
        lines.append(f"- Suite `{validation.get('suite')}`: {validation.get('evaluated')} expectations, "
                     f"{'passed' if validation.get('success') else 'FAILED'}")
        lines += [f"- warning: {f.get('expectation')} on `{f.get('column')}`: {f.get('observed')}" for f in failures]
    else:
        lines.append("- no validation report was attached to this run")
    lines += [
        "",
        *_cost_and_hyperparameters(spec, cost_usd, hyperparameters),
        "## Gate decision",
        f"This version was **{verdict}**" + (f" (compared with champion version {decision['champion_version']})."
                                              if decision.get("champion_version") else "."),
        *[f"- {reason}" for reason in decision["reasons"]],
        "",
        "## Limitations",
        "- Scores are only as good as the training window: data outside it (older seasons, new categories) is not represented.",
        "- Unseen categorical values are mapped to one shared 'unknown' embedding.",
        "- Holdout rows come from the same window as the training rows, so the metrics do not measure drift over time.",
    ]
    return "\n".join(lines) + "\n"
