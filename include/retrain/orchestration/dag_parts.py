"""What the single-model DAG (dag_factory) and the segment DAG (segments) share: DAG arguments, the data
tasks, schedule, as-of, callbacks."""

from __future__ import annotations

from datetime import datetime
from functools import partial, wraps

from retrain.config import LoadedSpec, ModelSpec
from retrain.contracts import from_xcom, to_xcom
from retrain.orchestration.retries import default_task_args, task_doc

# Without schedule.start_date: Airflow's cron timetables never schedule a DAG that has no start date, and a
# manual run dated before the start date runs no task. So the lower bound is far in the past; catchup stays
# off unless the spec asks (and then it must name a start date).
EARLIEST_START = datetime(1970, 1, 1)


def dag_start(spec: ModelSpec) -> datetime:
    return datetime.fromisoformat(spec.schedule.start_date) if spec.schedule.start_date else EARLIEST_START


def _schedule(spec: ModelSpec):
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    from retrain.assets import dataset_asset

    cron = spec.schedule.cron
    timetable = CronTriggerTimetable(cron, timezone=spec.schedule.timezone) if cron else None
    if spec.schedule.on_data_arrival:
        asset = dataset_asset(spec.data.location)
        return AssetOrTimeSchedule(timetable=timetable, assets=[asset]) if timetable else [asset]
    return timetable


def _run_info(context, snapshot: dict):
    """The run as a stage sees it. ``as_of`` is the snapshot's: check_freshness computed it once (the data
    interval's end, or the newest announced partition's), and every later task trains as of the same point."""
    from retrain.contracts import RunInfo

    ti = context["ti"]
    as_of = datetime.fromisoformat(snapshot["as_of"])
    return RunInfo(dag_id=ti.dag_id, run_id=context["run_id"], try_number=ti.try_number, as_of=as_of)


FRESHNESS_DOC = """
**Waiting for data.** When the data is late (no complete partition young enough yet, or the partition an
asset event announced has no completion marker), the task defers: its worker slot is released and a trigger
on the triggerer watches for the marker, up to `data.freshness.wait_minutes`. Then the run ends as stale data.

**Data seen before.** A scheduled, backfill or asset-triggered run whose data (fingerprint) this spec was
already trained on is skipped, with the earlier MLflow run named in the log. Manual runs always train.
"""


def _failure_callback(context, notifiers: list[str] | None = None, channel: str | None = None) -> None:
    from retrain.orchestration.slack_notifier import RetrainSlackNotifier
    from retrain.tracking.costs import record_avoided_from_failure

    RetrainSlackNotifier("failure", notifiers=notifiers, slack_channel=channel).notify(context)
    record_avoided_from_failure(context)  # stale data or a broken contract saved a training run


def failure_callback(spec: ModelSpec):
    """The DAG's ``on_failure_callback`` with the spec's channel and notifiers bound ([]: the deployment's): not
    trigger-form Params, which Airflow deep-copies for every operator and a run's conf could change."""
    return partial(_failure_callback, notifiers=spec.alerts.notifiers or [], channel=spec.alerts.slack_channel)


def alert_on_failure(alerts):
    """The scoring and landing DAGs' ``on_failure_callback``: the alert alone, to the channel and notifiers of a
    spec's ``alerts`` section."""
    from retrain.alerts import task_failure_callback

    return partial(task_failure_callback, notifiers=alerts.notifiers or [], channel=alerts.slack_channel)


def model_dag_kwargs(spec: ModelSpec) -> dict:
    """The ``DAG(...)`` arguments every model's DAG has: id, schedule, start, one run at a time, callbacks."""
    return {
        "dag_id": spec.dag_id, "schedule": _schedule(spec), "start_date": dag_start(spec),
        "catchup": spec.schedule.catchup, "max_active_runs": 1,
        "default_args": {"owner": spec.owner, "on_failure_callback": failure_callback(spec), **default_task_args()},
    }


def stage_task(**kwargs):
    """``@task`` for a stage: what it returns is one XCom (``return_value``; a ``-> dict`` annotation alone makes
    Airflow push every key as an XCom of its own too), with NaN scores written so the Execution API takes them,
    and read back as numbers in the stage it is passed to (``retrain.contracts.to_xcom``, docs/architecture.md)."""
    from airflow.sdk import task

    def decorate(stage):
        @wraps(stage)
        def call(*args, **named):
            return to_xcom(stage(*from_xcom(args), **from_xcom(named)))

        return task(multiple_outputs=False, **kwargs)(call)

    return decorate


def data_tasks(loaded: LoadedSpec):
    """``check_freshness`` (the sensor) and ``validate_data`` (a task to call with its snapshot), inside a DAG."""

    from retrain.orchestration.sensors import FreshDataSensor

    check_freshness = FreshDataSensor(
        task_id="check_freshness", loaded=loaded, doc_md=task_doc("check_freshness") + FRESHNESS_DOC
    )

    @stage_task(doc_md=task_doc("validate_data"))
    def validate_data(snapshot: dict) -> dict:
        from retrain.pipeline.data_stages import validate_data as stage

        return stage(loaded, snapshot)

    return check_freshness, validate_data
