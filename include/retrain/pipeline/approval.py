"""Human approval before the champion moves: when to ask, what the approver sees, and what is recorded.

Pure functions plus one MLflow writer; the Airflow operator that asks is
:mod:`retrain.orchestration.approval`. Where a run goes after the gate:

* the gate rejected the candidate: ``reject`` (nobody is asked to overrule the gate);
* the trigger form said ``promote=never``: ``reject``, recorded as held (the gate's verdict is kept);
* the form said ``promote=approval``, or the spec's ``gate.approval`` is ``always``, or it is ``borderline``
  and the candidate passed only narrowly: ``approve_promotion`` (a person decides in the Airflow UI);
* otherwise: ``promote``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

PROMOTE, REJECT, APPROVE = "promote", "reject", "approve_promotion"
Route = Literal["promote", "reject", "approve_promotion"]
APPROVAL_TAG_PREFIX = "retrain.approval."


def borderline_reasons(decision: Mapping[str, Any]) -> list[str]:
    """Why a passing candidate is borderline: worse than the champion but within the no-regression margin,
    or an improvement whose confidence interval does not clear zero. Empty when it passed clearly."""
    reasons = []
    for check in decision.get("checks") or []:
        champion, candidate, limit = check.get("champion"), check.get("candidate"), check.get("limit")
        if check.get("rule") == "no_regression" and champion is not None:
            towards_better = 1.0 if champion >= limit else -1.0  # higher-is-better metrics have limit < champion
            if (candidate - champion) * towards_better < 0:
                reasons.append(
                    f"{check['head']}.{check['metric']}: {candidate:.4f} is worse than the champion's "
                    f"{champion:.4f}, within the allowed margin (limit {limit:.4f})"
                )
        if check.get("rule") == "significant_improvement" and not (candidate is not None and candidate > 0):
            reasons.append(f"{check['head']}.{check['metric']}: the improvement over the champion is not significant")
    return reasons


def route(decision: Mapping[str, Any], promote_mode: str, spec_approval: str) -> Route:
    """The task ``decide`` branches to (see the module docstring)."""
    if not decision.get("promote") or promote_mode == "never":
        return REJECT
    if promote_mode == "approval" or spec_approval == "always":
        return APPROVE
    if spec_approval == "borderline" and borderline_reasons(decision):
        return APPROVE
    return PROMOTE


def why_asked(decision: Mapping[str, Any], promote_mode: str, spec_approval: str) -> str:
    if promote_mode == "approval":
        return "the run was triggered with promote=approval"
    if spec_approval == "always":
        return "the spec asks for approval of every promotion (gate.approval: always)"
    return "the candidate passed narrowly (gate.approval: borderline): " + "; ".join(borderline_reasons(decision))


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def approval_body(
    model_name: str,
    decision: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    why: str,
    links: Mapping[str, str],
    timeout_hours: float,
) -> str:
    """The markdown the approver reads on the required-action page: why they are asked, the gate's checks,
    candidate against champion on the same holdout, and links."""
    candidate = evaluation.get("candidate") or {}
    champion = evaluation.get("champion") or {}
    lines = [
        f"**{model_name}**: promote candidate version **{evaluation.get('challenger_version')}** to champion "
        f"(current champion: {evaluation.get('champion_version') or 'none'})?",
        "",
        f"Asked because {why}. Unanswered after {timeout_hours:g} h, the request is **rejected**.",
        "",
        f"Holdout rows: {evaluation.get('holdout_rows', '-')}",
        "",
        "| head | metric | candidate | champion |",
        "|---|---|---|---|",
    ]
    for head, metrics in sorted(candidate.items()):
        for metric, value in sorted(metrics.items()):
            lines.append(f"| {head} | {metric} | {_number(value)} | {_number(champion.get(head, {}).get(metric))} |")
    lines += ["", "**Gate checks**", ""]
    checks = decision.get("checks") or []
    if not checks:
        lines.append("- no checks configured for this model")
    for check in checks:
        verdict = "passed" if check.get("passed") else "FAILED"
        lines.append(
            f"- {check.get('head')}.{check.get('metric')} {check.get('rule')}: candidate "
            f"{_number(check.get('candidate'))}, limit {_number(check.get('limit'))}, "
            f"champion {_number(check.get('champion'))}: {verdict}"
        )
    shown = [f"[{label}]({url})" for label, url in links.items() if url]
    if shown:
        lines += ["", " | ".join(shown)]
    return "\n".join(lines)


def approval_record(response: Mapping[str, Any] | None) -> dict[str, str]:
    """Who decided, when, what and why, from the approval task's response (the HITL payload)."""
    response = response or {}
    chosen = (response.get("chosen_options") or ["Reject"])[0]
    user = response.get("responded_by_user") or {}
    by = str(user.get("name") or user.get("id") or "") if isinstance(user, Mapping) else str(user)
    at = response.get("responded_at")
    params = response.get("params_input") or {}
    reason = str(params.get("reason") or "").replace("\x00", "").strip()  # PostgreSQL refuses NUL in tags
    timed_out = not by
    return {
        "decision": "approved" if chosen == "Approve" else "rejected",
        "by": by or "nobody (no answer before the timeout: rejected by default)",
        "at": at.isoformat(timespec="seconds") if hasattr(at, "isoformat") else str(at or ""),
        "reason": reason or ("timed out" if timed_out else "no reason given"),
    }


def actor_for(record: Mapping[str, str] | None, default: str) -> str:
    """The ``actor`` a champion move records: the approver when a person approved it."""
    if not record or record.get("decision") != "approved":
        return default
    return f"{record['by']} (approved in the Airflow UI: {record['reason']}; {default})"


def record_approval(model_name: str, version: str | None, run_id: str | None, record: Mapping[str, str]) -> None:
    """Write the approval decision to the candidate version's tags and to its MLflow run."""
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    for key, value in record.items():
        if version:
            client.set_model_version_tag(model_name, version, APPROVAL_TAG_PREFIX + key, value[:4500])
        if run_id:
            client.set_tag(run_id, APPROVAL_TAG_PREFIX + key, value[:4500])
    if run_id:
        client.log_dict(run_id, dict(record), "gate/approval.json")


def record_hold(model_name: str, version: str | None, run_id: str | None) -> str:
    """``promote=never``: the gate's verdict stays on record, the champion stays; say so on the version and run."""
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    note = "held: the run was triggered with promote=never, so the champion was not moved"
    client = mlflow_store.connect(get_settings())
    if version:
        client.set_model_version_tag(model_name, version, "retrain.promotion", note)
    if run_id:
        client.set_tag(run_id, "retrain.promotion", note)
    return note


def approvals_from_versions(versions) -> list[dict[str, str]]:
    """Approval decisions recorded on model versions (for ``retrain history``), oldest first."""
    found = []
    for v in versions:
        tags = v.tags or {}
        if APPROVAL_TAG_PREFIX + "decision" not in tags:
            continue
        found.append({"version": str(v.version),
                      **{k.removeprefix(APPROVAL_TAG_PREFIX): val for k, val in tags.items()
                         if k.startswith(APPROVAL_TAG_PREFIX)}})
    return sorted(found, key=lambda r: (r.get("at", ""), int(r["version"])))
