"""The last stage: log the run summary and post it to the model's channel (the spec's notifiers).

One model: a promotion (metrics against the champion and the thresholds, the new champion version) or a
rejection with its reasons, as Block Kit with the plain summary as its text. A fan-out run (a list of
segment outcomes): one digest for the whole run, never one message per segment. Slack failing never fails
this stage (notifiers never raise; an undelivered Slack message waits in the outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from retrain.config import LoadedSpec
from retrain.contracts import Decision, Evaluation, Outcome, TrainedCandidate
from retrain.pipeline.summary import render_summary

log = logging.getLogger(__name__)


def _airflow_run_url(dag_id: str, run_id: str) -> str | None:
    from retrain.alerts.deadline import run_url
    from retrain.settings import get_settings

    return run_url(get_settings().airflow_base_url, dag_id, run_id)


def notify_digest(loaded: LoadedSpec, run_id: str, outcomes: Sequence[Mapping[str, Any]],
                  data_warnings: Sequence[str] = ()) -> str:
    """One Slack message for a fan-out run's segment outcomes (counts, the first failures, the data warnings)."""
    from retrain.alerts.notifiers import Alert, deliver, notifiers_for
    from retrain.alerts.run_messages import digest_message

    spec = loaded.spec
    alert = digest_message(
        model_name=spec.name, run_id=run_id, outcomes=outcomes, airflow_run_url=_airflow_run_url(spec.dag_id, run_id),
        notes=data_warnings,
    )
    log.info("%s", alert.text)
    deliver(Alert(spec.alerts.slack_channel, alert.text, alert.blocks), notifiers_for(spec.alerts.notifiers))
    return alert.text


def notify_outcome(
    loaded: LoadedSpec,
    run_id: str,
    trained: dict | None,
    evaluation: dict | None,
    outcome: dict | Sequence[Mapping[str, Any]],
    decision: dict | None = None,
) -> str:
    """Post the run's outcome: a promotion or rejection message with the gate task's ``decision`` (the one
    record of it; never recomputed here), or, given a list of segment outcomes, one digest. Returns the
    plain-text summary (also logged)."""
    if isinstance(outcome, Sequence) and not isinstance(outcome, str | bytes | Mapping):
        return notify_digest(loaded, run_id, outcome)

    from retrain.alerts.notifiers import Alert, deliver, notifiers_for
    from retrain.alerts.run_messages import decision_message
    from retrain.links import mlflow_run_url, model_version_url

    spec = loaded.spec
    outcome = Outcome.model_validate(outcome).model_dump()
    trained = TrainedCandidate.model_validate(trained).model_dump() if trained else {}
    evaluation = Evaluation.model_validate(evaluation).model_dump() if evaluation else {}
    if evaluation.get("shadow"):  # both models' scores per partition, and how the shadow stands
        from retrain.tracking.model_card import describe

        evaluation = {**evaluation, "notes": [*evaluation.get("notes", []), *describe(evaluation["shadow"])]}
    if trained.get("training_note"):
        evaluation = {**evaluation, "notes": [*evaluation.get("notes", []), f"Training: {trained['training_note']}"]}
    if trained.get("data_warnings"):
        evaluation = {**evaluation, "notes": [*evaluation.get("notes", []),
                                              *(f"Data warning: {line}" for line in trained["data_warnings"])]}
    if trained.get("drift_not_checked"):
        evaluation = {**evaluation, "notes": [*evaluation.get("notes", []),
                                              f"Drift NOT checked: {trained['drift_not_checked']}"]}
    text = render_summary(loaded, run_id, trained, evaluation, outcome)
    log.info("%s", text)
    try:
        alert = decision_message(
            model_name=spec.name,
            run_id=run_id,
            outcome=outcome,
            decision=Decision.model_validate(decision).model_dump() if decision else {},
            evaluation=evaluation,
            text=text,
            mlflow_run_url=mlflow_run_url(trained) or None,
            model_version_url=model_version_url(spec.registered_model_name, outcome) or None,
            airflow_run_url=_airflow_run_url(spec.dag_id, run_id),
        )
        blocks = alert.blocks
        if trained.get("cost_usd") is not None:  # before the closing links
            from retrain.alerts.blockkit import section
            from retrain.pipeline.summary import cost_line

            blocks = [*blocks[:-1], section(cost_line(trained)), *blocks[-1:]]
    except Exception as exc:  # the summary text alone still goes out
        log.warning("could not build the Block Kit summary (%s: %s); sending text only", type(exc).__name__, exc)
        blocks = None
    deliver(Alert(spec.alerts.slack_channel, text, blocks), notifiers_for(spec.alerts.notifiers))
    return text
