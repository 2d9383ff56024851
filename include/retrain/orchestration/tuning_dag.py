"""One tuning DAG per spec with a ``tuning:`` section: ``tune_<name>``, on the tuning section's own cron.

Chain: check_freshness -> validate_data -> tune -> train -> evaluate -> gate -> decide -> promote | reject -> notify.
``tune`` runs the Optuna study (``retrain.pipeline.tuning_stage``); ``train`` trains one candidate with the best
configuration on the same rows a daily run would use, and from there it is the daily DAG's path: the same
evaluate, gate and promotion stages, so a tuned configuration reaches the champion (and with it the daily
retrain) only by beating the champion. ``tune`` and ``train`` go to the GPU queue when the spec asks for a GPU.
"""

from __future__ import annotations

import logging

from retrain.config import LoadedSpec, discover_specs
from retrain.contracts import pull_result
from retrain.orchestration.dag_parts import _run_info, dag_start, failure_callback, stage_task
from retrain.orchestration.resources import train_task_kwargs
from retrain.orchestration.retries import default_task_args, task_doc
from retrain.settings import get_settings

log = logging.getLogger(__name__)

TUNE_DOC = """
**Tune.** An Optuna study (TPE sampler, median pruning on per-epoch holdout loss) over the spec's
`tuning.space`, at most `tuning.trials` trials within `tuning.timeout_minutes`. Trials see only the training
rows; each is an MLflow child run of one tuning run. Returns the best configuration, which `train` uses.
"""


def tuning_dag_id(name: str) -> str:
    return f"tune_{name}"


def build_tuning_dag(loaded: LoadedSpec):
    from airflow.sdk import DAG, CronTriggerTimetable, TriggerRule, get_current_context, task

    spec, tuning = loaded.spec, loaded.spec.tuning
    dag_id = tuning_dag_id(spec.name)
    with DAG(
        dag_id=dag_id,
        description=f"Tune {spec.name}'s hyperparameters; the best configuration goes through the gate",
        schedule=CronTriggerTimetable(tuning.cron, timezone=spec.schedule.timezone),
        start_date=dag_start(spec),
        catchup=False,
        max_active_runs=1,
        tags=["retrain", "tuning", *spec.tags],
        doc_md=(f"### Tuning {spec.name}\n\n* spec: `{loaded.path.name}`\n* {tuning.trials} trials, "
                f"{tuning.timeout_minutes:g} minutes, metric `{tuning.metric}`\n"),
        params={"model_name": spec.name},
        default_args={"owner": spec.owner, "on_failure_callback": failure_callback(spec), **default_task_args()},
    ) as dag:

        @stage_task(doc_md=task_doc("check_freshness"))
        def check_freshness() -> dict:
            from retrain.orchestration.sensors import interval_as_of
            from retrain.pipeline.data_stages import check_freshness as stage

            return stage(loaded, interval_as_of(get_current_context()))

        @stage_task(doc_md=task_doc("validate_data"))
        def validate_data(snapshot: dict) -> dict:
            from retrain.pipeline.data_stages import validate_data as stage

            return stage(loaded, snapshot)

        @stage_task(doc_md=TUNE_DOC, **train_task_kwargs(spec))
        def tune(snapshot: dict, validation: dict) -> dict:
            from retrain.pipeline.tuning_stage import tune as stage

            return stage(loaded, snapshot, _run_info(get_current_context(), snapshot))

        @stage_task(doc_md=task_doc("train"), **train_task_kwargs(spec))
        def train(snapshot: dict, validation: dict, tuned: dict) -> dict:
            from retrain.pipeline.training_stage import train_candidate

            return train_candidate(loaded, snapshot, _run_info(get_current_context(), snapshot), validation, tuned=tuned)

        @stage_task(doc_md=task_doc("evaluate"))
        def evaluate(snapshot: dict, trained: dict) -> dict:
            from retrain.pipeline.gating_stage import evaluate as stage

            return stage(loaded, snapshot, trained)

        @stage_task(doc_md=task_doc("gate"))
        def gate(evaluation: dict, trained: dict) -> dict:
            from retrain.pipeline.gating_stage import gate as stage

            return stage(loaded, evaluation, trained)

        @task.branch(doc_md=task_doc("decide"))
        def decide(decision: dict) -> str:
            return "promote" if decision["promote"] else "reject"

        @stage_task(doc_md=task_doc("promote"))
        def promote(trained: dict, evaluation: dict, decision: dict) -> dict:
            from retrain.pipeline.gating_stage import promote as stage

            return stage(loaded, trained, evaluation, decision, actor=f"airflow:{dag_id}/{get_current_context()['run_id']}")

        @stage_task(doc_md=task_doc("reject"))
        def reject(trained: dict, evaluation: dict, decision: dict) -> dict:
            from retrain.pipeline.gating_stage import reject as stage

            return stage(loaded, trained, evaluation, decision)

        @stage_task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, doc_md=task_doc("notify"))
        def notify(trained: dict, evaluation: dict) -> str:
            from retrain.pipeline.notify_stage import notify_outcome

            context = get_current_context()
            outcome = pull_result(context["ti"], "promote", "reject")
            return notify_outcome(loaded, context["run_id"], trained, evaluation, outcome)

        snapshot = check_freshness()
        validation = validate_data(snapshot)
        tuned = tune(snapshot, validation)
        trained = train(snapshot, validation, tuned)
        evaluation = evaluate(snapshot, trained)
        decision = gate(evaluation, trained)
        promoted, rejected = promote(trained, evaluation, decision), reject(trained, evaluation, decision)
        decide(decision) >> [promoted, rejected] >> notify(trained, evaluation)
    return dag


def build_all_tuning(specs_dir=None) -> dict:
    """``tune_<name>`` for every valid spec with a tuning section. Broken specs are reported by the retrain DAGs'
    placeholders; a tuning DAG that cannot be built is logged and left out, never taking the others down."""
    try:  # a task process parses this file for one DAG: build only that one (or none, for another file's DAG)
        from airflow.sdk import get_parsing_context

        wanted = get_parsing_context().dag_id
    except Exception:
        wanted = None
    dags = {}
    if wanted is not None and not wanted.startswith("tune_"):
        return dags
    for item in discover_specs(specs_dir or get_settings().specs_dir):
        if not isinstance(item, LoadedSpec) or item.spec.tuning is None:
            continue
        dag_id = tuning_dag_id(item.spec.name)
        if wanted is not None and wanted != dag_id:
            continue
        try:
            dags[dag_id] = build_tuning_dag(item)
        except Exception:
            log.exception("cannot build the tuning DAG for %s", item.path)
    return dags
