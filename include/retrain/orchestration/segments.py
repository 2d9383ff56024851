"""The DAG of a spec with ``segments``: one model per segment value, fanned out over chunks.

    check_freshness -> validate_data -> plan_chunks -> train_chunk.expand(chunk) -> report, announce_champions

* The trigger form is the single-model DAG's (``run_params``): ``as_of``, ``retrain_seen_data`` and the wait
  act in ``check_freshness``; ``promote=never`` and the overrides in every ``train_chunk``. No approval step.

* ``plan_chunks`` returns at most ``max_map_length`` (1024) chunks of segments, so 5,000 segments map to
  at most 1,024 tasks (see ``retrain.pipeline.segment_stage.chunk``).
* Each mapped ``train_chunk`` trains, tracks, registers and gates its segments in one process: the
  per-task overhead (process start, imports, MLflow connection, reading the data) is paid once a chunk.
* ``max_active_tasks`` and the ``segments`` pool (created like the ``gpu`` pool; falls back to
  ``default_pool`` through the RETRAIN_SEGMENT_POOL setting) keep a machine from running more chunks at once
  than it has cores. ``max_active_tis_per_dagrun`` bounds one run's chunks the same way.
* A failing segment is recorded and the chunk goes on; ``report`` runs after every chunk (all_done) and
  fails the run naming the failed segments, so the failure alert fires once, with the list.
* ``announce_champions`` (all_done too) emits one event on the spec's champion Asset when any segment's
  champion moved, so the scoring DAG rescores with the new champions; skipped when none moved.
"""

from __future__ import annotations

from retrain.config import LoadedSpec
from retrain.contracts import from_xcom
from retrain.orchestration.resources import train_task_kwargs
from retrain.orchestration.run_params import dag_params
from retrain.settings import get_settings


def chunk_task_kwargs(loaded: LoadedSpec) -> dict:
    kwargs = {"max_active_tis_per_dagrun": get_settings().segment_parallelism, **train_task_kwargs(loaded.spec)}
    kwargs.setdefault("pool", get_settings().segment_pool)  # GPU specs: the gpu pool
    return kwargs


def build_segment_dag(loaded: LoadedSpec):
    from airflow.sdk import DAG, TriggerRule, get_current_context

    from retrain.assets import model_asset
    from retrain.orchestration.dag_parts import _run_info, data_tasks, model_dag_kwargs, stage_task

    spec = loaded.spec
    with DAG(
        **model_dag_kwargs(spec),
        description=f"Retrain {spec.name}: one model per {spec.segments.column}, chunks of {spec.segments.max_per_task}",
        max_active_tasks=get_settings().segment_parallelism + 1,
        tags=["retrain", "segments", *spec.tags],
        doc_md=f"### {spec.name} (segment models)\n\n{spec.description}\n\n* owner: `{spec.owner}`\n"
               f"* one model per `{spec.segments.column}`, registered as `{spec.name}__<segment>`\n",
        params=dag_params(spec),
    ) as dag:
        check_freshness, validate_data = data_tasks(loaded)

        @stage_task()
        def plan_chunks(snapshot: dict, validation: dict) -> list[list[str]]:
            from retrain.pipeline.segment_stage import plan_chunks as stage

            return stage(loaded, snapshot)

        @stage_task(**chunk_task_kwargs(loaded))
        def train_chunk(segments: list[str], snapshot: dict, validation: dict) -> list[dict]:
            from retrain.orchestration.run_params import choices_from_context
            from retrain.pipeline.run_overrides import record_overrides, with_overrides
            from retrain.pipeline.segment_stage import train_chunk as stage
            from retrain.pipeline.training_stage import data_warnings

            context = get_current_context()
            choices = choices_from_context(context)
            outcomes = stage(with_overrides(loaded, choices.overrides), snapshot, segments,
                             _run_info(context, snapshot), promote=choices.promote,
                             data_warnings=data_warnings(validation or {}))
            for outcome in outcomes:
                if outcome.get("run_id"):
                    record_overrides(outcome["run_id"], choices.overrides, spec.training)
            # outcomes travel as XCom: a few short fields per segment, no tracebacks
            return [{k: v for k, v in o.items() if k != "traceback"} for o in outcomes]

        @stage_task(trigger_rule=TriggerRule.ALL_DONE)
        def report(outcomes, planned, validation) -> dict:
            from retrain.pipeline.notify_stage import notify_digest
            from retrain.pipeline.segment_stage import SegmentFailures, with_unfinished
            from retrain.pipeline.segment_stage import report as stage
            from retrain.pipeline.training_stage import data_warnings

            if planned is None:  # the run stopped before planning; that task's own alert said why
                raise SegmentFailures("no segment was trained: the run stopped before they were planned (see the "
                                      "failed task before plan_chunks)", digest_sent=True)
            flat = with_unfinished([from_xcom(list(o)) for o in outcomes if o is not None], planned)
            notify_digest(loaded, get_current_context()["run_id"], flat, data_warnings(validation or {}))
            return stage([flat], digest_sent=True)

        @stage_task(outlets=[model_asset(spec.name)], trigger_rule=TriggerRule.ALL_DONE,
                    doc_md="### announce_champions\n\nOne champion Asset event (`mlflow-model://<name>`, the "
                           "segments that moved and their versions in `extra`) when any segment's champion moved; "
                           "skipped when none did.")
        def announce_champions(outcomes) -> dict:
            from retrain.orchestration.champion_asset import announce_segments

            return announce_segments(get_current_context(), spec.name, [from_xcom(o) for o in outcomes])

        snapshot = check_freshness.output
        validation = validate_data(snapshot)
        chunks = plan_chunks(snapshot, validation)
        outcomes = train_chunk.partial(snapshot=snapshot, validation=validation).expand(segments=chunks)
        report(outcomes, chunks, validation)
        announce_champions(outcomes)
    return dag
