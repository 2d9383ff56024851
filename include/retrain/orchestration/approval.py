"""``approve_promotion``: Airflow's ApprovalOperator (Human-in-the-loop, standard provider >= 1.21), showing
the gate's checks and the candidate/champion table, and recording who decided.

On Airflow 3.3 the waiting task holds no worker slot (state ``awaiting_input``). Approve: ``promote`` runs
(through the usual check-and-set, so a champion that moved meanwhile is refused). Reject, or no answer within
``gate.approval_timeout_hours`` (the default answer is Reject): ``reject`` runs and the champion stays.
The decision goes to the version's and the run's tags (``retrain.approval.*``) and shows in ``retrain history``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator

from retrain.config import LoadedSpec

APPROVAL_XCOM = "approval"


def approval_from_context(context) -> dict | None:
    """The decision ``approve_promotion`` recorded in this run, if a person was asked."""
    return context["ti"].xcom_pull(task_ids="approve_promotion", key=APPROVAL_XCOM)


class PromotionApprovalOperator(ApprovalOperator):
    ui_color = "#fef3c7"

    def __init__(self, *, loaded: LoadedSpec, **kwargs: Any) -> None:
        from airflow.sdk import Param

        from retrain.orchestration.slack_notifier import RetrainSlackNotifier

        spec = loaded.spec
        self.loaded = loaded
        self.timeout_hours = spec.gate.approval_timeout_hours
        self.why = "a person must approve this promotion"
        kwargs.pop("params", None)  # the DAG's params (the trigger form) are not the approver's form
        super().__init__(
            subject=f"Promote a new {spec.name} champion?",
            body="(filled in when the request is made)",
            defaults="Reject",
            response_timeout=timedelta(hours=spec.gate.approval_timeout_hours),
            params={"reason": Param("", type="string", maxLength=1000, title="Why (recorded with the decision)")},
            notifiers=[RetrainSlackNotifier("approval", model_name=spec.name, slack_channel=spec.alerts.slack_channel,
                                            notifiers=spec.alerts.notifiers)],
            **kwargs,
        )

    def execute(self, context):
        from retrain.contracts import pull_result
        from retrain.links import mlflow_run_url, model_version_url
        from retrain.orchestration.run_params import choices_from_context
        from retrain.pipeline.approval import approval_body, why_asked

        spec, ti = self.loaded.spec, context["ti"]
        decision, evaluation = pull_result(ti, "gate") or {}, pull_result(ti, "evaluate") or {}
        self.why = why_asked(decision, choices_from_context(context).promote, spec.gate.approval)
        links = {
            "MLflow run": mlflow_run_url(ti.xcom_pull(task_ids="train")),
            "Candidate version": model_version_url(spec.name, {"version": evaluation.get("challenger_version")}),
        }
        self.body = approval_body(spec.name, decision, evaluation, self.why, links, self.timeout_hours)
        return super().execute(context)

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        from retrain.pipeline.approval import approval_record, record_approval

        response = HITLOperator.execute_complete(self, context=context, event=event)  # validation, no skipping
        record = approval_record(response)
        ti = context["ti"]
        evaluation, trained = ti.xcom_pull(task_ids="evaluate") or {}, ti.xcom_pull(task_ids="train") or {}
        record_approval(self.loaded.spec.registered_model_name, evaluation.get("challenger_version"),
                        trained.get("run_id"), record)
        ti.xcom_push(key=APPROVAL_XCOM, value=record)  # explicit: a resumed HITL task's return is not pushed
        self.log.info("promotion %s by %s at %s: %s", record["decision"], record["by"], record["at"], record["reason"])
        not_taken = "reject" if record["decision"] == "approved" else "promote"
        self.skip(ti=ti, tasks=[t for t in self.get_direct_relatives(upstream=False) if t.task_id == not_taken])
        return record
