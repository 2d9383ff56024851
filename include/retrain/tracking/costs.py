"""Cost in MLflow: what each run used and cost, what skipped runs avoided, and the reports read from it.

Every run records ``cost_usd`` and ``resources.*`` metrics and the tag ``retrain.run_kind``:

* ``train``: a daily (or tuned) candidate, gated afterwards (``retrain.gate_decision``);
* ``trial``: one tuning trial, a child of a ``tuning`` run (which records no cost itself, so nothing counts twice);
* ``avoided``: no training happened (data seen before, stale data, a broken contract); ``cost_avoided_usd`` is
  what the model's recent training runs cost (their median), i.e. what the check saved.

``retrain costs`` and ``retrain leaderboard`` read these back (docs/costs.md).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from retrain.training.usage import PriceTable, Usage

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from retrain.config import ModelSpec

log = logging.getLogger(__name__)

RUN_KIND = "retrain.run_kind"
COST = "cost_usd"
AVOIDED = "cost_avoided_usd"
WORKER_QUEUE = "retrain.worker_queue"
AVOIDED_REASONS = {"data_seen_before", "stale_data", "data_contract"}
RECENT_RUNS = 5


def usage_tags(queue: str) -> dict[str, str]:
    """The tags a metered run is created with (``retrain.worker_queue``): known at the start, they cost no
    store write of their own there."""
    return {WORKER_QUEUE: queue}


def log_usage(client: MlflowClient, run_id: str, usage: Usage, prices: PriceTable, tags: Sequence = ()) -> float:
    """``resources.*`` and ``cost_usd`` metrics, with ``tags`` (MLflow ``RunTag``s the caller had to write
    anyway, e.g. the model's) in the same store write, then ``costs/usage.json``. The run carries
    ``usage_tags`` from its creation. Returns the cost."""
    from mlflow.entities import Metric

    now = int(datetime.now(UTC).timestamp() * 1000)
    metrics = usage.metrics(prices)
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()], tags=list(tags))
    client.log_dict(run_id, {**asdict(usage), "cost_usd": metrics[COST],
                             "prices": asdict(prices.for_queue(usage.queue))}, "costs/usage.json")
    return metrics[COST]


def _all_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str = "") -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def typical_cost(client: MlflowClient, experiment_id: str) -> float | None:
    """Median ``cost_usd`` of the model's last few finished training runs, or None before the first."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_KIND}` = 'train' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=RECENT_RUNS,
    )
    costs = [r.data.metrics[COST] for r in runs if COST in r.data.metrics]
    return statistics.median(costs) if costs else None


def record_avoided(model: str, reason: str, dag_id: str, airflow_run_id: str, detail: str = "") -> float | None:
    """Record that ``reason`` stopped this Airflow run before training, with the cost that saved. Once per
    Airflow run and reason; never raises (a record must not fail a run). Returns the cost avoided."""
    try:
        return _record_avoided(model, reason, dag_id, airflow_run_id, detail)
    except Exception as exc:
        log.warning("could not record the avoided cost of %s (%s): %s", model, reason, exc)
        return None


def _record_avoided(model: str, reason: str, dag_id: str, airflow_run_id: str, detail: str) -> float | None:
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    if reason not in AVOIDED_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    settings = get_settings()
    client = mlflow_store.connect(settings)
    exp_id = mlflow_store.experiment_id(client, settings, model)
    escaped = airflow_run_id.replace("'", "\\'")
    # not the airflow.* tags: a later try of the train task must never mistake this record for its run
    tags = {RUN_KIND: "avoided", "retrain.model": model, "retrain.avoided_reason": reason,
            "retrain.avoided.dag_id": dag_id, "retrain.avoided.airflow_run_id": airflow_run_id}
    existing = client.search_runs([exp_id], filter_string=(
        f"tags.`{RUN_KIND}` = 'avoided' and tags.`retrain.avoided_reason` = '{reason}' "
        f"and tags.`retrain.avoided.airflow_run_id` = '{escaped}'"), max_results=1)
    if existing:
        return existing[0].data.metrics.get(AVOIDED)
    cost = typical_cost(client, exp_id)
    run = client.create_run(exp_id, run_name=f"{model} avoided: {reason}", tags=tags)
    if cost is not None:
        client.log_metric(run.info.run_id, AVOIDED, cost)
    if detail:
        client.set_tag(run.info.run_id, "retrain.avoided_detail", detail[:4500])
    client.set_terminated(run.info.run_id, "FINISHED")
    log.info("%s: %s avoided a training run (%s)", model, reason,
             "no earlier run to price it by" if cost is None else f"worth ${cost:.4f}")
    return cost


def record_avoided_from_failure(context: Mapping[str, Any]) -> None:
    """From a task failure callback: a stale-data or data-contract failure avoided a training run."""
    from retrain.errors import DataContractError, StaleDataError

    error = context.get("exception")
    reason = ("data_contract" if isinstance(error, DataContractError)
              else "stale_data" if isinstance(error, StaleDataError) else None)
    params = context.get("params") or {}
    model = params.get("model_name") if isinstance(params, Mapping) else None
    if reason is None or not model:
        return
    ti = context.get("ti")
    record_avoided(model, reason, getattr(ti, "dag_id", "") or "", str(context.get("run_id") or ""), str(error)[:500])


# -- reports --------------------------------------------------------------------------------------------


@dataclass
class CostRow:
    model: str
    day: str
    runs: int = 0
    cost_usd: float = 0.0
    gpu_hours: float = 0.0
    rejected_usd: float = 0.0
    tuning_usd: float = 0.0
    avoided_runs: int = 0
    avoided_usd: float = 0.0

    @property
    def rejected_share(self) -> float:
        return self.rejected_usd / self.cost_usd if self.cost_usd else 0.0


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def cost_rows(runs: Iterable, model_of: Mapping[str, str]) -> list[CostRow]:
    """Per model and day (UTC, by run start): cost, GPU-hours, cost of runs the gate rejected, tuning cost and
    the cost avoided. ``model_of`` maps experiment id to model name."""
    rows: dict[tuple[str, str], CostRow] = {}
    for run in runs:
        model = run.data.tags.get("retrain.model") or model_of.get(run.info.experiment_id, "?")
        row = rows.setdefault((model, _day(run.info.start_time)), CostRow(model, _day(run.info.start_time)))
        metrics, tags = run.data.metrics, run.data.tags
        if AVOIDED in metrics or tags.get(RUN_KIND) == "avoided":
            row.avoided_runs += 1
            row.avoided_usd += metrics.get(AVOIDED, 0.0)
            continue
        if COST not in metrics:
            continue
        row.runs += 1
        row.cost_usd += metrics[COST]
        row.gpu_hours += metrics.get("resources.gpu_hours", 0.0)
        if tags.get("retrain.gate_decision") == "reject":
            row.rejected_usd += metrics[COST]
        if tags.get(RUN_KIND) == "trial":
            row.tuning_usd += metrics[COST]
    return sorted(rows.values(), key=lambda r: (r.model, r.day))


def cost_report(client: MlflowClient, since: date | None = None, model: str | None = None) -> list[CostRow]:
    from retrain.tracking.mlflow_store import segments_experiment

    experiments = client.search_experiments()
    if model is not None:  # a segment spec's models count as the spec's
        experiments = [e for e in experiments if e.name in (model, segments_experiment(model))]
        if not experiments:
            from retrain.errors import RetrainError

            raise RetrainError(f"no MLflow experiment named {model!r}")
    model_of = {e.experiment_id: e.name for e in experiments}
    if not model_of:
        return []
    where = ""
    if since is not None:
        where = f"attributes.start_time >= {int(datetime.combine(since, datetime.min.time(), UTC).timestamp() * 1000)}"
    return cost_rows(_all_runs(client, list(model_of), where), model_of)


def format_cost_report(rows: list[CostRow]) -> str:
    if not rows:
        return "no runs with a recorded cost"
    header = ("model", "day", "runs", "cost_usd", "gpu_hours", "rejected", "tuning_usd", "avoided")
    lines = [header]
    totals: dict[str, CostRow] = {}
    for r in rows:
        t = totals.setdefault(r.model, CostRow(r.model, "total"))
        for name in ("runs", "cost_usd", "gpu_hours", "rejected_usd", "tuning_usd", "avoided_runs", "avoided_usd"):
            setattr(t, name, getattr(t, name) + getattr(r, name))
    for r in [*rows, *totals.values()]:
        lines.append((r.model, r.day, str(r.runs), f"{r.cost_usd:.4f}", f"{r.gpu_hours:.3f}",
                      f"{r.rejected_share:.0%}", f"{r.tuning_usd:.4f}", f"{r.avoided_runs} (${r.avoided_usd:.4f})"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip() for line in lines)


@dataclass
class LeaderRow:
    run_id: str
    value: float
    cost_usd: float | None
    window: str
    decision: str
    version: str | None
    hyperparameters: str


def default_metric(spec: ModelSpec) -> str:
    """The gate's metric for a model: the first metric its spec's gate compares with the champion (else its
    first threshold, else its first head's ``RANKING_METRIC``: roc_auc, macro_f1 or rmse)."""
    from retrain.training.metrics import RANKING_METRIC

    for head, rules in spec.gate.heads.items():
        for metric in [*rules.max_regression, *rules.thresholds]:
            return f"{head}.{metric}"
    head = spec.heads[0]
    return f"{head.name}.{RANKING_METRIC[head.kind]}"


def higher_is_better(metric: str) -> bool:
    from retrain.config import METRIC_DIRECTIONS

    name = metric.rsplit(".", 1)[-1]
    for directions in METRIC_DIRECTIONS.values():
        if name in directions:
            return directions[name] == "higher"
    return not name.endswith("loss")


def _window(partitions: str) -> str:
    names = [p.rsplit("/", 1)[-1] for p in partitions.split(",") if p]
    return "" if not names else names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def _experiment(client: MlflowClient, model: str, segment: str | None):
    """The model's experiment; a segment's runs are in its spec's segments experiment."""
    from retrain.tracking.mlflow_store import segments_experiment

    name = model if segment is None else segments_experiment(model)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        from retrain.errors import RetrainError

        raise RetrainError(f"no MLflow experiment named {name!r}")
    return experiment


def leaderboard(client: MlflowClient, model: str, metric: str, segment: str | None = None) -> list[LeaderRow]:
    """Gated training runs of ``model`` (of one of its segments), best ``metric`` first."""
    from retrain.tracking.tags import SEGMENT

    experiment = _experiment(client, model, segment)
    where = f"tags.`{RUN_KIND}` = 'train'"
    if segment is not None:
        where += " and tags.`{}` = '{}'".format(SEGMENT, segment.replace("'", "\\'"))
    runs = [r for r in _all_runs(client, [experiment.experiment_id], where)
            if r.data.tags.get("retrain.gate_decision") in ("promote", "reject")]
    rows = [
        LeaderRow(
            run_id=r.info.run_id,
            value=r.data.metrics[metric],
            cost_usd=r.data.metrics.get(COST),
            window=_window(r.data.tags.get("retrain.data_partitions", "")),
            decision=r.data.tags.get("retrain.gate_decision", ""),
            version=r.data.tags.get("retrain.challenger_version"),
            hyperparameters=r.data.tags.get("retrain.hyperparameters_source", "spec"),
        )
        for r in runs if metric in r.data.metrics
    ]
    return sorted(rows, key=lambda row: -row.value if higher_is_better(metric) else row.value)


def format_leaderboard(rows: list[LeaderRow], metric: str) -> str:
    if not rows:
        return f"no gated runs with metric {metric}"
    lines = [("rank", "run", "version", metric, "cost_usd", "window", "decision", "hyperparameters")]
    for i, r in enumerate(rows, 1):
        lines.append((str(i), r.run_id[:12], r.version or "-", f"{r.value:.4f}",
                      "-" if r.cost_usd is None else f"{r.cost_usd:.4f}", r.window, r.decision, r.hyperparameters))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip() for line in lines)


def log_leaderboard(client: MlflowClient, model: str, metric: str, rows: list[LeaderRow],
                    segment: str | None = None) -> str:
    """The plot (metric against cost) and the table in the model's experiment, in one ``report`` run. Returns its id."""
    from retrain.tracking.plots import metric_vs_cost

    title = model if segment is None else f"{model} {segment}"
    run = client.create_run(_experiment(client, model, segment).experiment_id, run_name=f"{title} leaderboard {metric}",
                            tags={RUN_KIND: "report", "retrain.model": model, "retrain.report": "leaderboard"})
    client.log_figure(run.info.run_id, metric_vs_cost(title, metric, rows), "leaderboard/metric_vs_cost.png")
    client.log_dict(run.info.run_id, [asdict(r) for r in rows], "leaderboard/leaderboard.json")
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def stop_over_budget(client: MlflowClient, run_id: str, meter, prices: PriceTable, checkpoint_dir, reason: str):
    """Record the spend so far, the reason and the last checkpoint on the run, then raise ``OverBudgetError``
    (a deterministic failure: not retried, and the failure alert carries the reason)."""
    from pathlib import Path

    from retrain.errors import OverBudgetError

    log_usage(client, run_id, meter.usage(), prices)
    client.set_tag(run_id, "retrain.over_budget", reason[:4500])
    checkpoint = Path(checkpoint_dir) / "last.pt"
    if checkpoint.is_file():
        client.log_artifact(run_id, str(checkpoint), "checkpoint")
    log.error("%s; the checkpoint after epoch %d is kept in %s and logged to run %s",
              reason, meter.epochs, checkpoint_dir, run_id)
    raise OverBudgetError(f"{reason}. Training stopped cleanly; its checkpoint is logged to MLflow run {run_id} "
                          "(artifact checkpoint/last.pt). Raise the budget in the spec's resources to train longer.",
                          run_id=run_id, epochs_done=meter.epochs)
