"""Cost accounting and tuning overheads.

* accounting: a training run with all the train task adds for accounting (MLflow system metrics, a
  ``ResourceMeter`` read and the budget checked at every epoch boundary, usage and cost logged at the end)
  against the same run without them; both are MLflow runs that log the spec and per-epoch metrics, as the
  train task does anyway. Goal: at most 1% slower (ratio >= 0.99).
* tuning trial: trials of a real study (Optuna TPE + median pruner, an MLflow child run per trial with its
  params, per-epoch losses and cost) against training the same configuration as many times without any of it.
  Every trial draws the same configuration (a one-point space) so both sides train identical models.
  Goal: at most 10% per-trial overhead (ratio >= 1/1.1).
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import REPEATS, Result, alternate
from bench.training import EPOCHS, _model, _problem, ours_fit

TRIALS = 3
# (e) trains 4x the other benchmarks' epochs (about 2.4 s here): accounting is a fixed ~5 ms a run, and at 0.6 s a
# run 1% is 6 ms, inside the training's own run-to-run spread, so (e) could not tell a pass from a miss
ACCOUNTING_EPOCHS = 4 * EPOCHS
SPEC = Path(__file__).resolve().parents[1] / "include" / "specs" / "ecommerce_dwell_time.yaml"


def accounting_overhead(files: list[Path], tmp: Path) -> list[Result]:
    from contextlib import nullcontext
    from types import SimpleNamespace

    import mlflow
    from mlflow.entities import RunTag
    from retrain.tracking.costs import log_usage, usage_tags
    from retrain.tracking.system_metrics import system_metrics
    from retrain.training.usage import Budget, PriceTable, ResourceMeter

    data, heads = _problem(files)
    prices = PriceTable()
    client, experiment = _mlflow(tmp, "bench-accounting")
    spec = SPEC.read_text()

    def run(accounting: bool, train: bool = True) -> None:
        # both sides: an MLflow run with its spec logged and per-epoch metrics, as the train task has anyway;
        # the accounting side's queue tag rides on the run's creation, as on the train task's first set_tags
        meter = ResourceMeter(data.numeric.device)
        with (mlflow.start_run(experiment_id=experiment, tags=usage_tags(meter.queue) if accounting else None) as active,
              system_metrics(active.info.run_id) if accounting else nullcontext()):
            mlflow.log_text(spec, "spec/" + SPEC.name)
            budget = Budget(max_minutes=10_000, max_cost_usd=10_000, prices=prices)

            def on_epoch(result) -> None:
                mlflow.log_metrics({"train_loss": result.train_loss}, step=result.epoch)
                if accounting:
                    meter.epoch_done(len(data))
                    assert budget.exceeded(meter, ACCOUNTING_EPOCHS - result.epoch) is None

            if train:
                ours_fit(_model(heads, data), heads, data, ACCOUNTING_EPOCHS, on_epoch=on_epoch)
            else:
                for epoch in range(1, ACCOUNTING_EPOCHS + 1):
                    on_epoch(SimpleNamespace(train_loss=0.0, epoch=epoch))
            # both sides end as the train task does, with the model's tags (digests, version, URI) in one write;
            # the accounting side's usage metrics ride on it (training_stage.log_servable_model, write_tags)
            model_tags = [RunTag(k, "x" * 64) for k in ("retrain.artifact_sha256", "retrain.package_version",
                                                         "retrain.model_uri")]
            if accounting:
                log_usage(client, active.info.run_id, meter.usage(), prices, model_tags)
            else:
                client.log_batch(active.info.run_id, tags=model_tags)

    ours, plain = alternate(lambda: run(True), lambda: run(False), repeats=max(REPEATS, 7))
    # the same runs without training, many times: what accounting adds, no longer lost in training's noise
    alone_on, alone_off = alternate(lambda: run(True, train=False), lambda: run(False, train=False), repeats=20)
    added = max(alone_on - alone_off, 0.0)
    n = len(data) * ACCOUNTING_EPOCHS
    return [
        Result("(e) training with cost accounting vs without", n / ours, n / plain, "samples/s", 0.99,
               note="all the train task adds: MLflow system metrics (sampler thread), meter and budget check "
                    "per epoch, usage and cost logged; both sides an MLflow run with its spec, per-epoch metrics "
                    "and the model's final tags"),
        Result("(e') the same, accounting's cost timed alone", n / (plain + added), n / plain, "samples/s", 0.99,
               note=f"accounting adds {added * 1000:.1f} ms a run (best of 20 runs without training: "
                    f"{alone_on * 1000:.1f} vs {alone_off * 1000:.1f} ms) to the plain run's {plain:.2f} s"),
    ]


def _mlflow(tmp: Path, name: str):
    """A SQLite MLflow store under ``tmp`` as the tracking URI, and a new experiment in it."""
    import mlflow

    uri = f"sqlite:///{tmp / f'{name}.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    return client, client.create_experiment(name, artifact_location=(tmp / name).resolve().as_uri())


def _tables(files: list[Path]):
    from retrain.config import load_spec
    from retrain.data.loading import read_table
    from retrain.pipeline.tuning_stage import split_for_trials

    loaded = load_spec(SPEC)
    spec = loaded.spec
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"epochs": EPOCHS, "device": "cpu"})})
    table = read_table(files, columns=[*spec.features.columns, *[h.label for h in spec.heads]])
    fit_rows, validation_rows = split_for_trials(table, 0.2, 1)
    return spec, fit_rows, validation_rows


def tuning_trial_overhead(files: list[Path], tmp: Path) -> Result:
    import mlflow
    import torch
    from retrain.config import SearchSpace, TuningSpec
    from retrain.pipeline.training_stage import build_and_fit
    from retrain.pipeline.tuning_stage import _score, run_study
    from retrain.training.usage import PriceTable

    spec, fit_rows, validation_rows = _tables(files)
    a = spec.architecture
    one_point = SearchSpace(batch_size=[spec.training.batch_size], embedding_dim=[a.embedding_dim],
                            hidden_units=[list(a.hidden_units)])
    spec = spec.model_copy(update={"tuning": TuningSpec(trials=TRIALS, metric="dwell.rmse", space=one_point)})
    device = torch.device("cpu")
    client, experiment = _mlflow(tmp, "bench-tuning")

    def tuning():
        with mlflow.start_run(experiment_id=experiment):
            study, _ = run_study(spec, fit_rows, validation_rows, device, client, experiment, "default", 1,
                                 PriceTable(), n_trials=TRIALS, timeout=None)
            assert len(study.trials) == TRIALS

    def plain():
        for _ in range(TRIALS):
            bundle, history = build_and_fit(spec, fit_rows, validation_rows, device)
            _score(spec, bundle, history, validation_rows)

    ours, baseline = alternate(tuning, plain, repeats=2)
    n = fit_rows.num_rows * EPOCHS * TRIALS
    return Result("(f) tuning trials vs plain training, same config", n / ours, n / baseline, "samples/s",
                  round(1 / 1.1, 3), note=f"{TRIALS} trials of {EPOCHS} epochs, MLflow child runs to SQLite")


BENCHMARKS = [
    ("accounting_overhead", accounting_overhead),
    ("tuning_trial_overhead", tuning_trial_overhead),
]
