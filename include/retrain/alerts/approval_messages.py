"""The Slack message asking a person to approve a promotion, linking the Airflow required-action page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retrain.alerts import blockkit as bk


def approval_request_message(
    *,
    model_name: str,
    run_id: str,
    evaluation: Mapping[str, Any],
    decision: Mapping[str, Any],
    why: str,
    approval_url: str | None,
    timeout_hours: float,
    mlflow_run_url: str | None = None,
) -> bk.AlertMessage:
    candidate = evaluation.get("challenger_version") or "?"
    champion = evaluation.get("champion_version") or "none"
    title = f"Approval needed: promote {model_name} version {candidate} to champion?"
    checks = [
        f"{c.get('head')}.{c.get('metric')} {c.get('rule')}: {c.get('candidate'):.4f} "
        f"(limit {c.get('limit'):.4f}) {'ok' if c.get('passed') else 'FAILED'}"
        for c in decision.get("checks") or []
        if isinstance(c.get("candidate"), int | float) and isinstance(c.get("limit"), int | float)
    ]
    text = (
        f"{title} Current champion: {champion}. Asked because {why}. "
        f"Approve or reject in Airflow: {approval_url or 'the run page of ' + run_id}. "
        f"Unanswered after {timeout_hours:g} h it is rejected."
    )
    blocks = [
        bk.header(title),
        *bk.fields([("Model", model_name), ("Candidate", f"version {candidate}"), ("Champion", str(champion)),
                    ("Airflow run", run_id), ("Timeout", f"{timeout_hours:g} h, then rejected")]),
        bk.bullet_section("Why a person is asked", [bk.escape_mrkdwn(why)]),
    ]
    if checks:
        blocks.append(bk.bullet_section("Gate checks", [bk.escape_mrkdwn(c) for c in checks]))
    blocks.append(bk.context([bk.link(approval_url, "Approve or reject in Airflow"),
                              bk.link(mlflow_run_url, "MLflow run") if mlflow_run_url else "no MLflow link"]))
    return bk.message(text, blocks)
