"""One DAG per model spec. The DAG only wires tasks; each task body calls one pipeline stage.

Chain: check_freshness -> validate_data -> train -> evaluate -> gate -> decide -> promote | reject -> notify.
Heavy libraries (torch, mlflow, great_expectations, pandas) are imported inside the task callables,
so parsing this file stays fast.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from retrain.config import BrokenSpec, LoadedSpec
from retrain.contracts import Decision, Evaluation, Outcome, TrainedCandidate, from_xcom, pull_result
from retrain.orchestration.dag_parts import (
    _failure_callback,
    _run_info,
    data_tasks,
    model_dag_kwargs,
    stage_task,
)
from retrain.orchestration.parsing import shard_filter, specs_to_build
from retrain.orchestration.resources import train_task_kwargs
from retrain.orchestration.retries import default_task_args, task_doc
from retrain.orchestration.run_params import dag_params
from retrain.settings import get_settings

log = logging.getLogger(__name__)


DECIDE_DOC = """
**Where the run goes.** The gate rejected the candidate, or the run was triggered with `promote=never`:
`reject`. The run was triggered with `promote=approval`, or the spec's `gate.approval` is `always` (or
`borderline` and the candidate passed narrowly): `approve_promotion`, where a person approves or rejects in
the UI. Otherwise: `promote`.
"""

ANNOUNCE_DOC = """
**The champion as an Asset.** When `promote` moved the champion, this task emits an event on the model's
Asset `mlflow-model://<name>` (version and MLflow run id in `extra`): scoring DAGs scheduled on it run with
the new champion. Skipped when nothing moved.
"""


def build_dag(loaded: LoadedSpec):
    from airflow.sdk import DAG, TriggerRule, get_current_context, task

    from retrain.alerts.deadline import deadline_alert
    from retrain.assets import model_asset
    from retrain.orchestration.approval import PromotionApprovalOperator
    from retrain.orchestration.slack_notifier import RetrainSlackNotifier

    spec = loaded.spec
    doc = (
        f"### {spec.name}\n\n{spec.description}\n\n"
        f"* owner: `{spec.owner}`\n* spec: `{loaded.path.name}`\n"
        f"* heads: {', '.join(f'`{h.name}` ({h.kind})' for h in spec.heads)}\n"
        f"* data: `{spec.data.location}`, window {spec.data.training_window_days} days\n"
    )
    with DAG(
        **model_dag_kwargs(spec),
        description=f"Retrain {spec.name}: freshness, data contract, training, gate, promotion",
        tags=["retrain", *spec.tags],
        doc_md=doc,
        params=dag_params(spec),
        deadline=deadline_alert(spec.name, spec.alerts.slack_channel, spec.alerts.deadline_minutes,
                                callback=RetrainSlackNotifier, kind="deadline", notifiers=spec.alerts.notifiers),
    ) as dag:
        check_freshness, validate_data = data_tasks(loaded)

        # GPU specs: queue "gpu", pool "gpu", a Kubernetes pod asking for nvidia.com/gpu (orchestration/resources.py)
        @stage_task(doc_md=task_doc("train"), **train_task_kwargs(spec))
        def train(snapshot: dict, validation: dict) -> dict:
            from retrain.orchestration.run_params import choices_from_context
            from retrain.pipeline.run_overrides import record_overrides, with_overrides
            from retrain.pipeline.training_stage import train_candidate

            context = get_current_context()
            overrides = choices_from_context(context).overrides
            trained = train_candidate(with_overrides(loaded, overrides), snapshot, _run_info(context, snapshot), validation)
            record_overrides(trained["run_id"], overrides, spec.training)
            return TrainedCandidate.model_validate(trained).model_dump()

        @stage_task(doc_md=task_doc("evaluate"))
        def evaluate(snapshot: dict, trained: dict) -> dict:
            from retrain.pipeline.gating_stage import evaluate as stage

            return Evaluation.model_validate(stage(loaded, snapshot, trained)).model_dump()

        @stage_task(doc_md=task_doc("gate"))
        def gate(evaluation: dict, trained: dict) -> dict:
            from retrain.pipeline.gating_stage import gate as stage

            return Decision.model_validate(stage(loaded, evaluation, trained)).model_dump()

        @task.branch(doc_md=task_doc("decide") + DECIDE_DOC)
        def decide(decision: dict) -> str:
            from retrain.orchestration.run_params import choices_from_context
            from retrain.pipeline.approval import route

            return route(from_xcom(decision), choices_from_context(get_current_context()).promote, spec.gate.approval)

        approve_promotion = PromotionApprovalOperator(
            task_id="approve_promotion", loaded=loaded, doc_md=task_doc("approve_promotion")
        )

        # After decide (directly) or after approve_promotion: whichever ran and chose this task.
        @stage_task(doc_md=task_doc("promote"), trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def promote(trained: dict, evaluation: dict, decision: dict) -> dict:
            from retrain.orchestration.approval import approval_from_context
            from retrain.pipeline.approval import actor_for
            from retrain.pipeline.gating_stage import promote as stage

            context = get_current_context()
            approval = approval_from_context(context)
            actor = actor_for(approval, f"airflow:{spec.dag_id}/{context['run_id']}")
            return Outcome.model_validate(stage(loaded, trained, evaluation, decision, actor=actor)).model_dump()

        @stage_task(doc_md=task_doc("reject"), trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def reject(trained: dict, evaluation: dict, decision: dict) -> dict:
            from retrain.orchestration.approval import approval_from_context
            from retrain.orchestration.run_params import choices_from_context
            from retrain.pipeline.approval import record_hold
            from retrain.pipeline.gating_stage import reject as stage

            outcome = stage(loaded, trained, evaluation, decision)
            context = get_current_context()
            approval = approval_from_context(context)
            if approval:
                outcome["reasons"] = [f"promotion rejected by {approval['by']}: {approval['reason']}"]
            elif decision["promote"] and choices_from_context(context).promote == "never":
                outcome["reasons"] = [record_hold(spec.name, evaluation["challenger_version"], trained["run_id"])]
            return Outcome.model_validate(outcome).model_dump()

        @stage_task(outlets=[model_asset(spec.name)], doc_md=task_doc("announce_champion") + ANNOUNCE_DOC)
        def announce_champion(outcome: dict, trained: dict) -> dict:
            from retrain.orchestration.champion_asset import announce

            return announce(get_current_context(), spec.name, outcome, trained)

        @stage_task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, doc_md=task_doc("notify"))
        def notify(trained: dict, evaluation: dict, decision: dict) -> str:
            from retrain.pipeline.notify_stage import notify_outcome

            context = get_current_context()
            outcome = pull_result(context["ti"], "promote", "reject")
            return notify_outcome(loaded, context["run_id"], trained, evaluation, outcome, decision)

        snapshot = check_freshness.output
        validation = validate_data(snapshot)
        trained = train(snapshot, validation)
        evaluation = evaluate(snapshot, trained)
        decision = gate(evaluation, trained)
        promoted, rejected = promote(trained, evaluation, decision), reject(trained, evaluation, decision)
        decided = decide(decision)
        decided >> [promoted, rejected] >> notify(trained, evaluation, decision)
        decided >> approve_promotion >> [promoted, rejected]
        announce_champion(promoted, trained)
    return dag


def build_broken_spec_dag(broken: BrokenSpec):
    """A visible placeholder for a spec that failed to load: the error is in its docs and its one task."""
    from airflow.sdk import DAG, task

    message = str(broken.error)
    with DAG(
        dag_id=broken.dag_id,
        description=f"INVALID SPEC {broken.path.name}: {message}"[:1000],
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["retrain", "invalid-spec"],
        doc_md=f"### Invalid model spec\n\n`{broken.path}`\n\n```\n{message}\n```\n",
        default_args={"owner": "retrain", "on_failure_callback": _failure_callback, **default_task_args()},
    ) as dag:

        @task
        def spec_error() -> None:
            raise broken.error

        spec_error()
    return dag


def build_all(specs_dir: str | Path | None = None, dag_file: str | Path | None = None) -> dict:
    """Every spec's DAG by id (of ``dag_file``'s shard when the specs are sharded). A broken spec yields its
    placeholder; the other DAGs load regardless."""
    dags = {}
    settings = get_settings()
    # A task process gets only its own DAG's spec (orchestration/parsing.py), the dag-processor every spec.
    for item in specs_to_build(specs_dir or settings.specs_dir, keep=shard_filter(dag_file, settings.parse_shards)):
        if isinstance(item, BrokenSpec):
            log.error("model spec %s is invalid, its DAG only reports the error: %s", item.path, item.error)
            dags[item.dag_id] = build_broken_spec_dag(item)
            continue
        try:
            if item.spec.segments is not None:  # one model per segment: orchestration/segments.py
                from retrain.orchestration.segments import build_segment_dag

                dags[item.spec.dag_id] = build_segment_dag(item)
                continue
            dags[item.spec.dag_id] = build_dag(item)
        except Exception as exc:  # one spec must never take the other DAGs down
            log.exception("cannot build the DAG for %s", item.path)
            from retrain.errors import SpecError

            broken = BrokenSpec(item.path, SpecError(f"{item.path}: cannot build DAG: {exc}", path=str(item.path)),
                                placeholder_id=item.spec.dag_id)  # the model's own id, never another file's
            dags[broken.dag_id] = build_broken_spec_dag(broken)
    return dags
