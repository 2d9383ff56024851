"""Alerts as an Airflow ``BaseNotifier``: one notifier for approval requests (``notifiers=`` of the
approval task), task failures (``on_failure_callback``) and missed deadlines (``DeadlineAlert`` callback).

It only chooses the message; :func:`retrain.alerts.notifiers.deliver` hands it to the spec's ``notifiers``
(Slack with its retries, outbox and token redaction; the task log), so it never raises or fails a task.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from airflow.sdk import BaseNotifier

Kind = Literal["failure", "approval", "deadline"]


class RetrainSlackNotifier(BaseNotifier):
    """``kind`` picks the message: ``failure`` (the failed task), ``approval`` (the approval task's request,
    with a link to its required-action page) or ``deadline`` (a run that missed the spec's deadline)."""

    def __init__(
        self,
        kind: Kind = "failure",
        *,
        model_name: str | None = None,
        slack_channel: str | None = None,
        deadline_minutes: float | None = None,
        notifiers: list[str] | None = None,
        context: Any = None,
    ) -> None:
        super().__init__(context=context)
        self.kind, self.model_name, self.notifiers = kind, model_name, notifiers
        self.slack_channel, self.deadline_minutes = slack_channel, deadline_minutes

    def notify(self, context) -> None:
        try:
            if self.kind == "failure":
                from retrain.alerts import task_failure_callback

                task_failure_callback(context, notifiers=self.notifiers, channel=self.slack_channel)
            elif self.kind == "deadline":
                from retrain.alerts.deadline import deadline_missed_callback

                deadline_missed_callback(context, model_name=self.model_name, slack_channel=self.slack_channel,
                                         deadline_minutes=self.deadline_minutes, notifiers=self.notifiers)
            else:
                self._approval_request(context)
        except Exception as exc:  # an alert never adds a failure of its own
            self.log.error("Could not send the %s alert: %s: %s", self.kind, type(exc).__name__, exc)

    async def async_notify(self, context) -> None:
        """On the triggerer (DeadlineAlert's AsyncCallback): the blocking, bounded delivery in a thread."""
        await asyncio.to_thread(self.notify, context)

    def _approval_request(self, context) -> None:
        from airflow.providers.standard.operators.hitl import HITLOperator

        from retrain.alerts.approval_messages import approval_request_message
        from retrain.alerts.notifiers import Alert, deliver, notifiers_for
        from retrain.contracts import pull_result
        from retrain.links import mlflow_run_url
        from retrain.settings import get_settings

        ti, task = context["ti"], context["task"]
        try:
            url = HITLOperator.generate_link_to_ui_from_context(context=context,
                                                                base_url=get_settings().airflow_base_url)
        except ValueError:
            url = None
        alert = approval_request_message(
            model_name=self.model_name or ti.dag_id.removeprefix("retrain_"),
            run_id=context["run_id"],
            evaluation=pull_result(ti, "evaluate") or {},
            decision=pull_result(ti, "gate") or {},
            why=getattr(task, "why", "a person must approve this promotion"),
            approval_url=url,
            timeout_hours=getattr(task, "timeout_hours", 0.0),
            mlflow_run_url=mlflow_run_url(ti.xcom_pull(task_ids="train")) or None,
        )
        deliver(Alert(self.slack_channel or "", alert.text, alert.blocks), notifiers_for(self.notifiers))
