"""One DAG per model spec. The DAG only wires tasks; each task body calls one pipeline stage.

Chain: check_freshness -> validate_data -> train -> evaluate -> gate -> decide -> promote | reject -> notify.
Heavy libraries (torch, mlflow, great_expectations, pandas) are imported inside the task callables,
so parsing this file stays fast.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from retrain.config import BrokenSpec, LoadedSpec, ModelSpec, discover_specs
from retrain.orchestration.resources import train_task_kwargs
from retrain.orchestration.retries import default_task_args, task_doc
from retrain.orchestration.run_params import dag_params
from retrain.settings import get_settings

log = logging.getLogger(__name__)


def _schedule(spec: ModelSpec):
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    from retrain.assets import dataset_asset

    cron = spec.schedule.cron
    timetable = CronTriggerTimetable(cron, timezone=spec.schedule.timezone) if cron else None
    if spec.schedule.on_data_arrival:
        asset = dataset_asset(spec.data.location)
        return AssetOrTimeSchedule(timetable=timetable, assets=[asset]) if timetable else [asset]
    return timetable


def _as_of(context, spec: ModelSpec | None = None) -> datetime:
    """The point in time a run trains as of, never the wall clock: the end of its data interval or, for a
    run triggered by data events, the end of the newest partition they announced (same as check_freshness)."""
    from retrain.orchestration.sensors import arrival_point, interval_as_of

    if spec is None:
        return interval_as_of(context)
    return arrival_point(context, spec.data.location, spec.data.partition_prefix)[0]


def _run_info(context, spec: ModelSpec | None = None):
    from retrain.pipeline.context import RunInfo

    ti = context["ti"]
    as_of = _as_of(context, spec)
    return RunInfo(dag_id=ti.dag_id, run_id=context["run_id"], try_number=ti.try_number, as_of=as_of)


FRESHNESS_DOC = """
**Waiting for data.** When the data is late (no complete partition young enough yet, or the partition an
asset event announced has no completion marker), the task defers: its worker slot is released and a trigger
on the triggerer watches for the marker, up to `data.freshness.wait_minutes`. Then the run ends as stale data.

**Data seen before.** A scheduled, backfill or asset-triggered run whose data (fingerprint) this spec was
already trained on is skipped, with the earlier MLflow run named in the log. Manual runs always train.
"""


def _failure_callback(context) -> None:
    from retrain.orchestration.slack_notifier import RetrainSlackNotifier

    RetrainSlackNotifier("failure").notify(context)


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

    from retrain.assets import model_asset
    from retrain.orchestration.approval import PromotionApprovalOperator
    from retrain.orchestration.sensors import FreshDataSensor
    from retrain.orchestration.slack_notifier import deadline_alert

    spec = loaded.spec
    doc = (
        f"### {spec.name}\n\n{spec.description}\n\n"
        f"* owner: `{spec.owner}`\n* spec: `{loaded.path.name}`\n"
        f"* heads: {', '.join(f'`{h.name}` ({h.kind})' for h in spec.heads)}\n"
        f"* data: `{spec.data.location}`, window {spec.data.training_window_days} days\n"
    )
    with DAG(
        dag_id=spec.dag_id,
        description=f"Retrain {spec.name}: freshness, data contract, training, gate, promotion",
        schedule=_schedule(spec),
        start_date=datetime.fromisoformat(spec.schedule.start_date) if spec.schedule.start_date else None,
        catchup=spec.schedule.catchup,
        max_active_runs=1,
        tags=["retrain", *spec.tags],
        doc_md=doc,
        params=dag_params(spec),
        deadline=deadline_alert(spec.name, spec.alerts.slack_channel, spec.alerts.deadline_minutes),
        default_args={"owner": spec.owner, "on_failure_callback": _failure_callback, **default_task_args()},
    ) as dag:

        check_freshness = FreshDataSensor(
            task_id="check_freshness", loaded=loaded, doc_md=task_doc("check_freshness") + FRESHNESS_DOC
        )

        @task(doc_md=task_doc("validate_data"))
        def validate_data(snapshot: dict) -> dict:
            from retrain.pipeline.data_stages import validate_data as stage

            return stage(loaded, snapshot)

        # GPU specs: queue "gpu", pool "gpu", a Kubernetes pod asking for nvidia.com/gpu (orchestration/resources.py)
        @task(doc_md=task_doc("train"), **train_task_kwargs(spec))
        def train(snapshot: dict, validation: dict) -> dict:
            from retrain.orchestration.run_params import choices_from_context
            from retrain.pipeline.run_overrides import record_overrides, with_overrides
            from retrain.pipeline.training_stage import train_candidate

            context = get_current_context()
            overrides = choices_from_context(context).overrides
            trained = train_candidate(with_overrides(loaded, overrides), snapshot, _run_info(context, spec), validation)
            record_overrides(trained["run_id"], overrides, spec.training)
            return trained

        @task(doc_md=task_doc("evaluate"))
        def evaluate(snapshot: dict, trained: dict) -> dict:
            from retrain.pipeline.gating_stage import evaluate as stage

            return stage(loaded, snapshot, trained)

        @task(doc_md=task_doc("gate"))
        def gate(evaluation: dict, trained: dict) -> dict:
            from retrain.pipeline.gating_stage import gate as stage

            return stage(loaded, evaluation, trained)

        @task.branch(doc_md=task_doc("decide") + DECIDE_DOC)
        def decide(decision: dict) -> str:
            from retrain.orchestration.run_params import choices_from_context
            from retrain.pipeline.approval import route

            return route(decision, choices_from_context(get_current_context()).promote, spec.gate.approval)

        approve_promotion = PromotionApprovalOperator(
            task_id="approve_promotion", loaded=loaded, doc_md=task_doc("approve_promotion")
        )

        # After decide (directly) or after approve_promotion: whichever ran and chose this task.
        @task(doc_md=task_doc("promote"), trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def promote(trained: dict, evaluation: dict, decision: dict) -> dict:
            from retrain.orchestration.approval import approval_from_context
            from retrain.pipeline.approval import actor_for
            from retrain.pipeline.gating_stage import promote as stage

            context = get_current_context()
            approval = approval_from_context(context)
            actor = actor_for(approval, f"airflow:{spec.dag_id}/{context['run_id']}")
            return stage(loaded, trained, evaluation, decision, actor=actor)

        @task(doc_md=task_doc("reject"), trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
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
            return outcome

        @task(outlets=[model_asset(spec.name)], doc_md=task_doc("announce_champion") + ANNOUNCE_DOC)
        def announce_champion(outcome: dict, trained: dict) -> dict:
            from retrain.orchestration.champion_asset import announce

            return announce(get_current_context(), spec.name, outcome, trained)

        @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, doc_md=task_doc("notify"))
        def notify(trained: dict, evaluation: dict) -> str:
            from retrain.pipeline.notify_stage import notify_outcome

            context = get_current_context()
            outcome = context["ti"].xcom_pull(task_ids="promote") or context["ti"].xcom_pull(task_ids="reject")
            return notify_outcome(loaded, context["run_id"], trained, evaluation, outcome)

        snapshot = check_freshness.output
        validation = validate_data(snapshot)
        trained = train(snapshot, validation)
        evaluation = evaluate(snapshot, trained)
        decision = gate(evaluation, trained)
        promoted, rejected = promote(trained, evaluation, decision), reject(trained, evaluation, decision)
        decided = decide(decision)
        decided >> [promoted, rejected] >> notify(trained, evaluation)
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


def build_all(specs_dir: str | Path | None = None) -> dict:
    """Every spec's DAG by id. A broken spec yields its placeholder; the other DAGs load regardless."""
    dags = {}
    for item in discover_specs(specs_dir or get_settings().specs_dir):
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

            broken = BrokenSpec(item.path, SpecError(f"{item.path}: cannot build DAG: {exc}", path=str(item.path)))
            dags[broken.dag_id] = build_broken_spec_dag(broken)
    return dags
