"""Hyperparameter tuning.

``tune``: an Optuna study (TPE sampler, median pruning on per-epoch holdout loss) on the snapshot's training
rows only, split again into rows the trials fit on and rows they are scored on, so no trial sees the holdout the
gate later compares candidate and champion on. The study is one MLflow run (``retrain.run_kind=tuning``) with
one child run per trial (``trial``: params, per-epoch losses, cost). The first trial is the spec's own values.

Which hyperparameters a training run uses: ``retrain.pipeline.hyperparameters``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from retrain.config import LoadedSpec, ModelSpec
from retrain.contracts import RunInfo
from retrain.data.freshness import DataSnapshot
from retrain.pipeline.hyperparameters import SPACE_TAG
from retrain.settings import get_settings
from retrain.training.tuning import apply, space_sha256, spec_values, suggest

log = logging.getLogger(__name__)

def _metric_direction(spec: ModelSpec) -> str:
    from retrain.config import METRIC_DIRECTIONS

    metric = spec.tuning.metric
    if metric == "holdout_loss":
        return "minimize"
    head, _, name = metric.partition(".")
    return "maximize" if METRIC_DIRECTIONS[spec.head(head).kind][name] == "higher" else "minimize"


def _score(spec: ModelSpec, bundle, history, validation_table) -> float:
    if spec.tuning.metric == "holdout_loss":
        return float(history[-1].holdout_loss)
    from retrain.data.encoding import head_labels
    from retrain.training.metrics import head_metrics

    head_name, _, metric = spec.tuning.metric.partition(".")
    head = spec.head(head_name)
    predictions = bundle.predict_table(validation_table)
    labels = head_labels(validation_table, [head], spec.data.drop_unlabeled_rows)
    return float(head_metrics(head.kind, labels[head_name], predictions[head_name])[metric])


def _spec_point(spec: ModelSpec) -> dict[str, Any] | None:
    """The spec's own values as a first trial, when they lie inside the space."""
    space, values, point = spec.tuning.space, spec_values(spec), {}
    for name in ("learning_rate", "dropout", "weight_decay"):
        bounds = getattr(space, name)
        if bounds is not None:
            if not bounds.low <= values[name] <= bounds.high:
                return None
            point[name] = values[name]
    for name in ("batch_size", "embedding_dim"):
        choices = getattr(space, name)
        if choices is not None:
            if values[name] not in choices:
                return None
            point[name] = values[name]
    if space.hidden_units is not None:
        if list(values["hidden_units"]) not in [list(h) for h in space.hidden_units]:
            return None
        point["hidden_units"] = ",".join(map(str, values["hidden_units"]))
    return point


def _finished_tuning(client, exp_id: str, dag_id: str, airflow_run_id: str):
    escaped = airflow_run_id.replace("'", "\\'")
    runs = client.search_runs([exp_id], filter_string=(
        f"tags.`retrain.run_kind` = 'tuning' and tags.`retrain.tuning.dag_id` = '{dag_id}' "
        f"and tags.`retrain.tuning.airflow_run_id` = '{escaped}' and attributes.status = 'FINISHED'"), max_results=1)
    return runs[0] if runs else None


def split_for_trials(table, fraction: float, seed: int):
    """(rows trials fit on, rows they are scored on), drawn from the training rows only: the gate's holdout
    never reaches a trial. A seeded random split is enough here; fairness across windows is the gate's job."""
    import numpy as np
    import pyarrow as pa

    mask = np.random.default_rng(seed).random(table.num_rows) < fraction
    return table.filter(pa.array(~mask)), table.filter(pa.array(mask))


def tune(loaded: LoadedSpec, snapshot_dict: dict, run: RunInfo) -> dict:
    """Run the study and return its best configuration (``best_params``, ``best_value``, ``metric``,
    ``trials``, ``pruned``, ``tuning_run_id``, ``space_sha256``, ``cost_usd``). A retry of the same Airflow run
    returns the result a finished earlier try recorded."""
    import mlflow
    import optuna

    from retrain.pipeline.training_stage import load_split
    from retrain.tracking import costs, mlflow_store
    from retrain.tracking.system_metrics import system_metrics
    from retrain.training.devices import resolve_device

    spec, settings = loaded.spec, get_settings()
    if spec.tuning is None:
        raise ValueError(f"{loaded.path}: the spec has no tuning section")
    tuning = spec.tuning
    client = mlflow_store.connect(settings)
    exp_id = mlflow_store.experiment_id(client, settings, spec.name)
    earlier = _finished_tuning(client, exp_id, run.dag_id, run.run_id)
    if earlier is not None:
        log.info("reusing the finished tuning run %s of an earlier try", earlier.info.run_id)
        return mlflow.artifacts.load_dict(f"runs:/{earlier.info.run_id}/tuning/result.json")

    device = resolve_device(spec.training.device, spec.resources.gpu)
    queue = spec.resources.worker_queue
    snapshot = DataSnapshot.from_dict(snapshot_dict)
    train_table, _ = load_split(spec, snapshot)  # the gate's holdout rows are never seen here
    fit_rows, validation_rows = split_for_trials(train_table, spec.data.holdout_fraction or 0.2, spec.training.seed + 1)
    sha = space_sha256(spec)
    tags = {costs.RUN_KIND: "tuning", "retrain.model": spec.name, "retrain.tuning.dag_id": run.dag_id,
            "retrain.tuning.airflow_run_id": run.run_id, SPACE_TAG: sha, "retrain.spec_sha256": loaded.sha256,
            "retrain.as_of": run.as_of.isoformat()}
    run_name = f"tune {spec.name} {run.as_of:%Y-%m-%d}"
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags) as parent, system_metrics(parent.info.run_id):
        mlflow.log_dict(tuning.model_dump(), "tuning/space.json")
        study, trial_costs = run_study(spec, fit_rows, validation_rows, device, client, exp_id, queue,
                                       spec.resources.gpus, settings.prices, tuning.trials, tuning.timeout_minutes * 60)
        direction = _metric_direction(spec)
        states = [t.state for t in study.trials]
        complete = sum(s == optuna.trial.TrialState.COMPLETE for s in states)
        pruned = sum(s == optuna.trial.TrialState.PRUNED for s in states)
        best = study.best_trial
        best_params = suggest(optuna.trial.FixedTrial(best.params), tuning.space)
        result = {"tuning_run_id": parent.info.run_id, "best_params": best_params, "best_value": best.value,
                  "metric": tuning.metric, "direction": direction, "trials": len(states), "complete": complete,
                  "pruned": pruned, "best_trial": best.number, "space_sha256": sha, "cost_usd": sum(trial_costs)}
        mlflow.log_metrics({"tuning.best_value": best.value, "tuning.trials": len(states),
                            "tuning.trials_pruned": pruned, "tuning.total_cost_usd": sum(trial_costs)})
        mlflow.set_tag("retrain.tuning.best_params", json.dumps(best_params, sort_keys=True))
        mlflow.log_dict(result, "tuning/result.json")
        mlflow.log_dict([{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
                         for t in study.trials], "tuning/trials.json")
    log.info("%s: best %s %s=%.5f after %d trials (%d pruned): %s", spec.name, direction, tuning.metric,
             best.value, len(states), pruned, best_params)
    return result


def run_study(spec: ModelSpec, fit_rows, validation_rows, device, client, exp_id: str, queue: str, gpus: int,
              prices, n_trials: int, timeout: float | None):
    """The Optuna study, inside the active (parent) MLflow run: one child run per trial. Returns the study and
    each trial's cost."""
    import mlflow
    import optuna

    from retrain.pipeline.training_stage import build_and_fit
    from retrain.tracking import costs
    from retrain.training.usage import ResourceMeter

    tuning = spec.tuning
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=_metric_direction(spec),
        sampler=optuna.samplers.TPESampler(seed=spec.training.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    first = _spec_point(spec)
    if first:
        study.enqueue_trial(first)
    trial_costs: list[float] = []

    def objective(trial) -> float:
        params = suggest(trial, tuning.space)
        trial_spec = apply(spec, params)
        meter = ResourceMeter(device, queue=queue, gpus=gpus)
        child = mlflow.start_run(run_name=f"trial {trial.number}", nested=True, experiment_id=exp_id,
                                 tags={costs.RUN_KIND: "trial", "retrain.model": spec.name,
                                       "retrain.tuning.trial": str(trial.number), **costs.usage_tags(queue)})
        mlflow.log_params({k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()})

        def on_epoch(result) -> None:
            mlflow.log_metrics({"train_loss": result.train_loss, "holdout_loss": result.holdout_loss},
                               step=result.epoch)
            meter.epoch_done(fit_rows.num_rows)
            trial.report(result.holdout_loss, result.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"holdout loss {result.holdout_loss:.5f} at epoch {result.epoch} is "
                                         "worse than the median of earlier trials")

        status, state = "FAILED", "failed"
        try:
            bundle, history = build_and_fit(trial_spec, fit_rows, validation_rows, device, on_epoch=on_epoch)
            value = _score(spec, bundle, history, validation_rows)
            mlflow.log_metric("value", value)
            status, state = "FINISHED", "complete"
            return value
        except optuna.TrialPruned:
            status, state = "KILLED", "pruned"
            raise
        finally:
            trial_costs.append(costs.log_usage(client, child.info.run_id, meter.usage(), prices))
            mlflow.set_tag("retrain.tuning.state", state)
            mlflow.end_run(status=status)

    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    return study, trial_costs
