"""Alerts about what a run decided: a promotion or a rejection, and one digest for a fan-out run.

Pure functions over the dicts the pipeline passes between tasks (the gate decision, the evaluation, the
promote/reject outcome), so they can be tested without Airflow, MLflow or Slack.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from retrain.alerts import blockkit as bk
from retrain.training.metrics import NOT_SCORES

DIGEST_LISTED = 10
"""How many failed (and how many rejected) segments a digest names; the rest are counted."""
DIGEST_REASON_LIMIT = 200
METRIC_TABLE_LIMIT = 2800


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if math.isnan(value):
        return "nan"
    return f"{value:.4f}"


def _check_line(check: Mapping[str, Any]) -> str:
    """One gate check, e.g. ``✅ atc.roc_auc >= 0.6500: 0.7139`` or a no-regression comparison."""
    mark = "✅" if check.get("passed") else "❌"
    name = f"{check.get('head')}.{check.get('metric')}"
    rule = check.get("rule")
    candidate, limit, champion = check.get("candidate"), check.get("limit"), check.get("champion")
    if rule == "no_regression":
        body = (
            f"{name}: {_number(candidate)} vs champion {_number(champion)} "
            f"(no regression: limit {_number(limit)})"
        )
    elif rule == "significant_improvement":
        body = f"{name}: improvement over champion, CI lower bound {_number(candidate)} (must be > {_number(limit)})"
    elif rule == "min_improvement":
        body = f"{name}: {_number(candidate)} vs champion {_number(champion)} (must reach {_number(limit)})"
    elif rule == "leak_free_holdout":
        body = f"holdout rows the champion trained on: {int(candidate or 0)} (must be 0; {check.get('note', '')})"
    elif rule == "min_holdout_examples":
        body = (f"{check.get('head')}: holdout examples {int(candidate or 0)} (must be >= {int(limit or 0)}; "
                f"{check.get('note', '')})")
    elif rule == "identical_to_champion":
        body = f"candidate identical to the champion ({check.get('note', '')})"
    elif rule in ("min", "max"):
        sign = ">=" if rule == "min" else "<="
        body = f"{name}: {_number(candidate)} (threshold {sign} {_number(limit)})"
    else:
        body = f"{name} {rule}: {_number(candidate)} (limit {_number(limit)})"
    return f"{mark} {bk.escape_mrkdwn(body)}"


def _metrics_table(evaluation: Mapping[str, Any] | None) -> str | None:
    """A fixed-width table of candidate vs champion per head and metric, or None without metrics."""
    if not evaluation or not isinstance(evaluation.get("candidate"), Mapping):
        return None
    champion = evaluation.get("champion") or {}
    rows = [("head.metric", "candidate", "champion", "delta")]
    for head, metrics in evaluation["candidate"].items():
        if not isinstance(metrics, Mapping):
            continue
        labeled = metrics.get("labeled_rows")
        if isinstance(labeled, int | float) and labeled == labeled:  # some holdout rows lacked this head's label
            shown = f"{int(labeled):,}"  # both models are judged on these same rows
            judged = isinstance(champion, Mapping) and champion.get(head)
            rows.append((f"{head}.labeled_rows", shown, shown if judged else "—", "—"))
        for metric, value in metrics.items():
            if metric in NOT_SCORES:
                continue
            reference = (champion.get(head) or {}).get(metric) if isinstance(champion, Mapping) else None
            delta = (
                _number(value - reference)
                if isinstance(value, int | float) and isinstance(reference, int | float)
                else "—"
            )
            if delta not in ("—", "nan") and not delta.startswith("-"):
                delta = "+" + delta
            rows.append((f"{head}.{metric}", _number(value), _number(reference), delta))
    if len(rows) == 1:
        return None
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    return bk.truncate("\n".join(lines), METRIC_TABLE_LIMIT)


def decision_message(
    *,
    model_name: str,
    run_id: str,
    outcome: Mapping[str, Any],
    decision: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    text: str | None = None,
    mlflow_run_url: str | None = None,
    model_version_url: str | None = None,
    airflow_run_url: str | None = None,
) -> bk.AlertMessage:
    """A promotion (metrics against the champion and the thresholds, the new champion version) or a
    rejection with its reasons. ``outcome`` is what ``promote``/``reject`` returned, ``decision`` the gate's
    XCom (``promote``, ``reasons``, ``checks``, ``champion_version``), ``evaluation`` the scores."""
    promoted = bool(outcome.get("promoted"))
    decision = decision or {}
    evaluation = evaluation or {}
    version = outcome.get("version")
    previous = outcome.get("previous_champion") or decision.get("champion_version") or "none"
    candidate_version = evaluation.get("challenger_version")
    reasons = [str(r) for r in (outcome.get("reasons") or decision.get("reasons") or [])]
    checks = [c for c in decision.get("checks") or [] if isinstance(c, Mapping)]

    if outcome.get("shadow"):
        title = f"Shadow: {model_name} version {outcome.get('shadow_version')} passed the gate, held beside champion {version}"
        facts = [("Model", model_name), ("Decision", "shadow"), ("Champion (unchanged)", str(version)),
                 ("In shadow", f"version {outcome.get('shadow_version')}")]
        fallback = f"{title}. Airflow run {run_id}."
    elif promoted:
        title = f"Promoted: {model_name} version {version} is the new champion"
        facts = [("Model", model_name), ("Decision", "promoted"), ("New champion", f"version {version}"),
                 ("Previous champion", str(previous))]
        fallback = f"{title} (was {previous}). Airflow run {run_id}."
    else:
        title = f"Rejected: {model_name} candidate, champion stays at version {version or 'none'}"
        facts = [("Model", model_name), ("Decision", "rejected"), ("Champion (unchanged)", str(version or "none"))]
        if candidate_version:
            facts.append(("Rejected candidate", f"version {candidate_version}"))
        fallback = f"{title}. Reasons: {'; '.join(reasons) or 'none given'}. Airflow run {run_id}."
    facts.append(("Airflow run", run_id))

    blocks = [bk.header(title), *bk.fields(facts)]
    if not promoted and not outcome.get("shadow"):
        lines = [bk.escape_mrkdwn(r) for r in reasons] or ["no reason given"]
        blocks.append(bk.bullet_section("Why it was rejected", lines))
    if checks:
        blocks.append(bk.bullet_section("Gate checks (thresholds and champion)", [_check_line(c) for c in checks]))
    elif decision:
        blocks.append(bk.section("*Gate checks*\nno rules configured for this model"))
    notes = [str(n) for n in evaluation.get("notes") or []]
    if notes:  # what was not checked or is still pending, e.g. drift without a reference
        blocks.append(bk.bullet_section("Notes", [bk.escape_mrkdwn(n) for n in notes]))
    table = _metrics_table(evaluation)
    if table:
        compared = evaluation.get("champion_version")
        title_line = f"*Holdout metrics* (champion: version {compared})" if compared else "*Holdout metrics* (no champion yet)"
        blocks.append(bk.section(f"{bk.escape_mrkdwn(title_line)}\n{bk.code_block(table)}"))
    links = [
        bk.link(mlflow_run_url, "MLflow run") if mlflow_run_url else "",
        bk.link(model_version_url, f"model version {version}") if model_version_url and version else "",
        bk.link(airflow_run_url, "Airflow run") if airflow_run_url else "",
    ]
    blocks.append(bk.context([p for p in links if p] or ["no links available"]))
    return bk.message(text or fallback, blocks)


# -- fan-out digest -------------------------------------------------------------------------------------------

STATUS_ORDER = ("failed", "rejected", "promoted", "skipped")


def segment_status(outcome: Mapping[str, Any]) -> str:
    """``status`` when given; otherwise failed (an ``error``), promoted or rejected (a promote/reject outcome)."""
    status = outcome.get("status")
    if status:
        return str(status)
    if outcome.get("error"):
        return "failed"
    if "promoted" in outcome:
        return "promoted" if outcome.get("promoted") else "rejected"
    return "unknown"


def _segment_reason(outcome: Mapping[str, Any]) -> str:
    reason = outcome.get("error") or "; ".join(str(r) for r in outcome.get("reasons") or [])
    reason = " ".join(str(reason).split())
    task = outcome.get("task")
    reason = f"{task}: {reason}" if task and reason else (reason or "no reason given")
    return bk.truncate(reason, DIGEST_REASON_LIMIT)


def digest_message(
    *,
    model_name: str,
    run_id: str,
    outcomes: Sequence[Mapping[str, Any]],
    listed: int = DIGEST_LISTED,
    airflow_run_url: str | None = None,
    notes: Sequence[str] = (),
) -> bk.AlertMessage:
    """One message for a whole fan-out run: counts per outcome, then the first ``listed`` failures and
    rejections by segment, then ``notes`` (the data contract's warnings). Its size does not grow with the
    number of segments."""
    statuses = [segment_status(o) for o in outcomes]
    counts = Counter(statuses)
    order = [s for s in STATUS_ORDER if counts[s]] + sorted(s for s in counts if s not in STATUS_ORDER)
    summary = ", ".join(f"{counts[s]} {s}" for s in order) or "no segments"
    total = len(outcomes)
    worst = "failed" if counts["failed"] else ("rejected" if counts["rejected"] else "ok")
    title = f"{model_name}: {total} segment{'s' if total != 1 else ''} — {summary}"

    def first(status: str) -> list[tuple[str, str]]:
        picked = [o for o, s in zip(outcomes, statuses, strict=True) if s == status][: max(listed, 0)]
        return [(str(o.get("segment", "?")), _segment_reason(o)) for o in picked]

    text_lines = [f"Fan-out run {run_id} of {model_name}: {total} segments, {summary}."]
    blocks = [bk.header(title), *bk.fields([("Model", model_name), ("Airflow run", run_id), ("Segments", str(total)),
                                            *[(s.capitalize(), str(counts[s])) for s in order]])]
    for status in ("failed", "rejected"):
        named = first(status)
        if not named:
            continue
        more = counts[status] - len(named)
        lines = [f"`{bk.escape_mrkdwn(seg)}`: {bk.escape_mrkdwn(reason)}" for seg, reason in named]
        if more > 0:
            lines.append(f"… and {more} more {status} segment{'s' if more != 1 else ''}")
        blocks.append(bk.bullet_section(f"{status.capitalize()} segments (first {len(named)})", lines))
        text_lines.append(f"{status.capitalize()}: " + "; ".join(f"{seg} ({reason})" for seg, reason in named)
                          + (f"; and {more} more" if more > 0 else ""))
    if notes:
        blocks.append(bk.bullet_section("Data warnings", [bk.escape_mrkdwn(note) for note in notes]))
        text_lines.extend(f"Data warning: {note}" for note in notes)
    footer = [f"one digest per run, {total} segment outcomes", f"status: {worst}"]
    if airflow_run_url:
        footer.insert(0, bk.link(airflow_run_url, "Airflow run"))
    blocks.append(bk.context(footer))
    return bk.message(bk.truncate("\n".join(text_lines), 3000), blocks)
