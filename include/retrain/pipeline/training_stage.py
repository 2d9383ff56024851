"""Stage 3: train the candidate and log it, with everything needed to trust it, to MLflow."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from retrain.config import LoadedSpec, ModelSpec
from retrain.contracts import RunInfo
from retrain.data.freshness import DataSnapshot
from retrain.errors import DataReadError
from retrain.settings import get_settings
from retrain.tracking import tags

log = logging.getLogger(__name__)

MODEL_NAME_IN_RUN = "model"


def _params(spec: ModelSpec, snapshot: DataSnapshot) -> dict[str, str]:
    t, a = spec.training, spec.architecture
    return {
        "architecture": a.type,
        "hidden_units": json.dumps(a.hidden_units),
        "embedding_dim": str(a.embedding_dim),
        "dropout": str(a.dropout),
        "epochs": str(t.epochs),
        "batch_size": str(t.batch_size),
        "learning_rate": str(t.learning_rate),
        "weight_decay": str(t.weight_decay),
        "seed": str(t.seed),
        "heads": ",".join(f"{h.name}:{h.kind}" for h in spec.heads),
        "numeric_features": ",".join(spec.features.numeric),
        "categorical_features": ",".join(spec.features.categorical),
        "holdout_fraction": str(spec.data.holdout_fraction),
        "holdout_key": ",".join(spec.data.holdout_key) or "<whole row>",
        "holdout_newest_days": str(spec.data.holdout_newest_days),
        "training_window_days": str(spec.data.training_window_days),
        "partitions": str(len(snapshot.partitions)),
        "rows": str(snapshot.total_rows),
    }


FEW_STEPS = 100  # optimizer steps under which a small table's candidate has learnt little


def too_few_steps(rows: int, batch_size: int, epochs: int) -> str | None:
    """Why a candidate may have learnt little, or None: a small table in big batches takes few optimizer steps
    (a 3,000-row table at the default 1,024 a batch, 5 epochs: 15 steps)."""
    steps = -(-rows // batch_size) * epochs
    if steps >= FEW_STEPS:
        return None
    smaller = max(8, 2 ** int(np.log2(max(1, rows * epochs // FEW_STEPS))))
    return (f"the candidate took only {steps} optimizer steps ({rows:,} training rows in batches of {batch_size:,}, "
            f"{epochs} epoch(s)), too few to learn much; a smaller training.batch_size (e.g. {smaller}), more "
            f"training.epochs or both give it {FEW_STEPS} or more")


def build_and_fit(spec: ModelSpec, train_table, holdout_table, device, on_epoch=None, checkpoint_dir=None):
    """Fit the encoder and the model on the training rows. Returns the bundle and the epoch history.

    With ``checkpoint_dir``, every epoch is checkpointed there and a checkpoint already there is resumed
    from (the encoder and heads are refit from the same rows, so they come out the same)."""
    from retrain.data.encoding import FeatureEncoder, head_labels
    from retrain.models.base import HeadConfig, ModelConfig, build_model
    from retrain.models.bundle import ModelBundle
    from retrain.training.trainer import TrainingData, fit, set_seed

    encoder = FeatureEncoder.fit(train_table, spec.features.numeric, spec.features.categorical)
    partial = spec.data.drop_unlabeled_rows  # a row may miss some heads' labels: NaN, left out of their loss
    train_labels = head_labels(train_table, spec.heads, partial)
    holdout_labels = head_labels(holdout_table, spec.heads, partial)
    heads = []
    for h in spec.heads:
        y = train_labels[h.name]
        y = y[~np.isnan(y)] if partial else y
        if not y.size:
            raise DataReadError(f"head '{h.name}': no training row has a value in its label column '{h.label}' "
                                "(the window's labeled rows all fell in the holdout); widen data.training_window_days")
        if h.kind == "regression":
            heads.append(HeadConfig(h.name, h.kind, float(np.mean(y)), float(np.std(y)) or 1.0))
        else:  # binary (no classes) or multiclass
            heads.append(HeadConfig(h.name, h.kind, classes=h.classes))
    config = ModelConfig(
        architecture=spec.architecture.type,
        n_numeric=len(spec.features.numeric),
        cardinalities=encoder.cardinalities,
        heads=heads,
        hidden_units=list(spec.architecture.hidden_units),
        embedding_dim=spec.architecture.embedding_dim,
        dropout=spec.architecture.dropout,
    )
    set_seed(spec.training.seed)
    model = build_model(config).to(device)
    train = TrainingData.from_arrays(encoder.transform(train_table), train_labels, device)
    holdout = TrainingData.from_arrays(encoder.transform(holdout_table), holdout_labels, device)
    history = fit(
        model,
        heads,
        train,
        epochs=spec.training.epochs,
        batch_size=spec.training.batch_size,
        learning_rate=spec.training.learning_rate,
        weight_decay=spec.training.weight_decay,
        seed=spec.training.seed,
        loss_weights={h.name: h.loss_weight for h in spec.heads},
        holdout=holdout,
        on_epoch=on_epoch,
        checkpoint_dir=checkpoint_dir,
    )
    return ModelBundle(config=config, encoder=encoder, model=model.cpu()), history


def load_split(spec: ModelSpec, snapshot: DataSnapshot):
    """The snapshot's training and holdout rows, split by the spec's rule (``retrain.data.split``): a row
    falls on the same side in every window, whatever the row order. Both carry the partition column."""
    from retrain.data import split
    from retrain.data.freshness import verify_unchanged
    from retrain.data.loading import drop_unlabeled, read_table

    table = read_table(snapshot.files, columns=spec.columns_read, partition_column=split.PARTITION_COLUMN)
    verify_unchanged(snapshot)  # the bytes validate_data checked, not a partition re-landed since
    if spec.data.drop_unlabeled_rows:
        table = drop_unlabeled(table, [h.label for h in spec.heads])
    return split.split(table, split.rule_for(spec), [Path(p).name for p in snapshot.partitions])


def _log_validation(validation: dict) -> None:
    """The data contract's result in the run: our report (with the drift reference) plus GX's JSON and Data Docs."""
    import mlflow

    from retrain.tracking.lineage import VALIDATION_PATH

    mlflow.log_dict(validation, VALIDATION_PATH)
    unlabeled = validation.get("unlabeled_rows") or {}
    if validation.get("unlabeled_rows_dropped"):  # rows without a label left out of training, per partition
        mlflow.log_metric("data.unlabeled_rows_dropped", sum(unlabeled.values()))
        mlflow.log_dict(unlabeled, "data/unlabeled_rows.json")
    folder = Path(validation.get("report_paths", {}).get("folder", ""))
    for name in ("gx_result.json", "data_docs"):
        path = folder / name
        if path.is_file():
            mlflow.log_artifact(str(path), "validation")
        elif path.is_dir():
            mlflow.log_artifacts(str(path), "validation/data_docs")


def train_candidate(loaded: LoadedSpec, snapshot_dict: dict, run: RunInfo, validation: dict | None = None,
                    tuned: dict | None = None) -> dict:
    """Train, log and return ``{"run_id", "model_uri", "cost_usd", "hyperparameters"}``. A retry of the same
    Airflow run reuses its MLflow run. ``tuned``: a tuning result whose best configuration to train with
    (otherwise the champion's tuned hyperparameters or the spec's, see ``retrain.pipeline.tuning_stage``)."""
    import mlflow

    from retrain.data.split import PARTITIONS_WITHOUT_ROWS_TAG, RULE_TAG, partitions_without_rows, rule_for
    from retrain.pipeline.hyperparameters import hyperparameter_tags, hyperparameters_for_training
    from retrain.tracking import costs, mlflow_store
    from retrain.tracking.lineage import (
        LINEAGE_DIGEST_TAG,
        MANIFEST_PATH,
        SNAPSHOT_PATH,
        VALIDATION_PATH,
        build_manifest,
        content_sha256,
        manifest_tags,
    )
    from retrain.tracking.plots import loss_curves
    from retrain.tracking.system_metrics import system_metrics
    from retrain.training.checkpoints import checkpoint_dir_for_run, remove_unneeded
    from retrain.training.devices import resolve_device
    from retrain.training.usage import Budget, ResourceMeter

    spec, settings = loaded.spec, get_settings()
    snapshot = DataSnapshot.from_dict(snapshot_dict)
    client = mlflow_store.connect(settings)
    exp_id = mlflow_store.experiment_id(client, settings, spec.name)
    earlier = mlflow_store.find_run_for_airflow_run(client, exp_id, run.dag_id, run.run_id)
    mlflow_store.end_orphaned_runs(client, exp_id, spec.name, run.run_id)
    remove_unneeded(earlier.info.run_id if earlier else None, lambda ids: mlflow_store.ended_runs(client, exp_id, ids))
    if earlier is not None and earlier.data.tags.get(tags.MODEL_URI):
        log.info("reusing MLflow run %s from an earlier try: its model is already logged", earlier.info.run_id)
        return {
            "run_id": earlier.info.run_id,
            "experiment_id": exp_id,
            "model_uri": earlier.data.tags[tags.MODEL_URI],
            "cost_usd": earlier.data.metrics.get("cost_usd"),
            "hyperparameters": json.loads(earlier.data.tags.get("retrain.hyperparameters", "{}")),
        }

    device = resolve_device(spec.training.device, spec.resources.gpu)
    meter = ResourceMeter(device, queue=spec.resources.worker_queue, gpus=spec.resources.gpus)
    spec, hyperparameters = hyperparameters_for_training(client, loaded.spec, tuned)
    manifest = build_manifest(dataclasses.replace(loaded, spec=spec), snapshot, run, settings, device)
    manifest["hyperparameters"] = hyperparameters  # where they came from; `retrain reproduce` applies tuned ones
    run_tags = {**run.tags(), tags.MODEL: spec.name, "retrain.owner": spec.owner, **manifest_tags(manifest),
                **hyperparameter_tags(hyperparameters), costs.RUN_KIND: "train", **costs.usage_tags(meter.queue)}
    run_id = earlier.info.run_id if earlier is not None else None
    if run_id is not None:
        log.info("an earlier try left MLflow run %s without a model: resuming it from its last checkpoint", run_id)
    run_name = f"{spec.name} {run.as_of:%Y-%m-%d}"
    with (mlflow.start_run(run_id=run_id, experiment_id=exp_id, run_name=run_name) as active,
          system_metrics(active.info.run_id, resume=run_id is not None)):
        mlflow.set_tags(run_tags)
        mlflow.set_tag(RULE_TAG, rule_for(spec).to_tag())
        mlflow.log_params(_params(spec, snapshot))
        mlflow.log_text(loaded.path.read_text(), "spec/" + loaded.path.name)
        mlflow.log_dict(snapshot.to_dict(), SNAPSHOT_PATH)
        mlflow.log_dict(manifest, MANIFEST_PATH)
        digests = {MANIFEST_PATH: content_sha256(manifest), SNAPSHOT_PATH: content_sha256(snapshot.to_dict())}
        if validation is not None:
            validation = json.loads(json.dumps(validation, default=str))  # as the store will hold it
            digests[VALIDATION_PATH] = content_sha256(validation)
            _log_validation(validation)
        mlflow.set_tag(LINEAGE_DIGEST_TAG, json.dumps(digests))

        train_table, holdout_table = load_split(spec, snapshot)
        without_rows = partitions_without_rows([Path(p).name for p in snapshot.partitions], train_table, holdout_table)
        if without_rows:  # the next run's gate counts what this model trained on from it
            mlflow.set_tag(PARTITIONS_WITHOUT_ROWS_TAG, ",".join(without_rows))
        note = too_few_steps(train_table.num_rows, spec.training.batch_size, spec.training.epochs)
        if note:
            log.warning("%s", note)
            mlflow.set_tag(tags.TRAINING_NOTE, note)
        _log_dataset_inputs(spec, snapshot, train_table, holdout_table)

        def log_epoch(result) -> None:
            metrics = {"train_loss": result.train_loss, "samples_per_second": result.samples_per_second}
            if result.holdout_loss is not None:
                metrics["holdout_loss"] = result.holdout_loss
            mlflow.log_metrics(metrics, step=result.epoch)
            meter.epoch_done(train_table.num_rows)
            reason = budget.exceeded(meter, spec.training.epochs - result.epoch)
            if reason:  # the epoch's checkpoint is on disk: keep it, log it, fail without retries
                costs.stop_over_budget(client, active.info.run_id, meter, settings.prices, checkpoints, reason)

        budget = Budget(spec.resources.max_minutes, spec.resources.max_cost_usd, settings.prices)
        checkpoints = checkpoint_dir_for_run(active.info.run_id)
        bundle, history = build_and_fit(
            spec, train_table, holdout_table, device, on_epoch=log_epoch, checkpoint_dir=checkpoints
        )
        mlflow.log_figure(loss_curves([h.__dict__ for h in history]), "plots/loss_curves.png")
        model_uri, model_tags = log_servable_model(client, active.info.run_id, exp_id, spec, bundle,
                                                   holdout_table, write_tags=False)
        # the usage rides on the model's tags: one store write
        cost = costs.log_usage(client, active.info.run_id, meter.usage(), settings.prices, model_tags)
        shutil.rmtree(checkpoints, ignore_errors=True)  # the model is logged; a retry reuses it as is
        log.info("logged candidate %s in MLflow run %s after %d epochs", model_uri, active.info.run_id, len(history))
        result = {"run_id": active.info.run_id, "experiment_id": exp_id, "model_uri": model_uri,
                  "cost_usd": cost, "hyperparameters": hyperparameters}
        if note:
            result["training_note"] = note
        not_checked = ((validation or {}).get("drift") or {}).get("not_checked")
        if not_checked:  # carried to the Slack summary: drift was asked for and not done
            mlflow.set_tag("retrain.drift_not_checked", not_checked[:4500])
            result["drift_not_checked"] = not_checked
        warned = data_warnings(validation or {})
        if warned:  # the contract passed with warnings: carried to the summary, not only to the task log
            mlflow.set_tag(tags.DATA_WARNINGS, json.dumps(warned)[:4500])
            result["data_warnings"] = warned
        return result


def data_warnings(validation: dict, limit: int = 5) -> list[str]:
    """The data contract's warnings in words (drift not checked has its own line), the first ``limit``."""
    lines = [f"{w['expectation']}{' on ' + w['column'] if w.get('column') else ''}: {w['observed']}"[:500]
             .replace("\x00", "\ufffd")  # they quote the data; PostgreSQL refuses NUL in a tag
             for w in validation.get("warnings") or [] if w.get("expectation") != "retrain_drift_not_checked"]
    return lines[:limit] + ([f"... and {len(lines) - limit} more (validation/report.json)"] if len(lines) > limit else [])


def log_servable_model(client, run_id: str, experiment_id: str, spec: ModelSpec, bundle, holdout_table,
                       write_tags: bool = True) -> tuple[str, list]:
    """Log the bundle to run ``run_id`` as a pyfunc model (``mlflow.pyfunc.load_model`` serves it) with the
    sha256 of every file, which promotion and every load check. Single and segment models both come here.
    Returns the model's URI and its run tags (digests, package version, model URI); with ``write_tags=False``
    the caller writes those tags in a store write of its own (the train task's usage), and it must.

    MLflow's ``log_model`` is unrolled into its public parts (save, logged model, upload): it would also load
    the model back to check the input example, copy the run's params and metric history onto the logged
    model and re-read the installed packages, 0.3-0.5 s a model that segment models pay thousands of times
    (docs/benchmarks.md). The digests are of the very files uploaded; every later load checks them."""
    import mlflow
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus, RunTag
    from mlflow.models import Model

    from retrain.tracking import artifacts

    example = _input_example(holdout_table.select(bundle.feature_columns).slice(0, 5))
    logged = client.create_logged_model(experiment_id, name=MODEL_NAME_IN_RUN, source_run_id=run_id)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / MODEL_NAME_IN_RUN
            mlflow.pyfunc.save_model(
                str(local),
                loader_module=artifacts.LOADER_MODULE,  # from the installed package: the model ships no code
                data_path=str(bundle.save(Path(tmp) / "bundle")),
                model_config=artifacts.model_config(),
                signature=_signature(spec),
                input_example=example,
                pip_requirements=list(_pip_requirements()),
                mlflow_model=Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id,
                                   run_id=run_id, model_id=logged.model_id),
            )
            checksums = artifacts.digest_tree(local)
            artifacts.check_mlmodel(local / "MLmodel", f"the model of run {run_id}")
            client.log_model_artifacts(logged.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    except Exception:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    model_uri = f"models:/{logged.model_id}"
    model_tags = [RunTag(tags.ARTIFACT_SHA256, json.dumps(checksums, sort_keys=True)),
                  RunTag("retrain.package_version", artifacts.package_version()), RunTag(tags.MODEL_URI, model_uri)]
    if write_tags:
        client.log_batch(run_id, tags=model_tags)
    return model_uri, model_tags


def _input_example(rows):
    """A few rows as MLflow can write them to JSON: decimals (a database's money columns) as doubles, which the
    model reads the same way; pandas would hold them as ``Decimal`` objects, which JSON cannot."""
    import pyarrow as pa

    for i, field in enumerate(rows.schema):
        if pa.types.is_decimal(field.type):
            rows = rows.set_column(i, field.name, rows.column(i).cast(pa.float64()))
    return rows.to_pandas()


def _log_dataset_inputs(spec: ModelSpec, snapshot: DataSnapshot, train_table, holdout_table) -> None:
    """Training and holdout rows as MLflow dataset inputs (name, digest, schema, row count, source)."""
    import mlflow

    from retrain.tracking.lineage import dataset_input

    contexts = {"training": train_table, "holdout": holdout_table}
    mlflow.log_inputs([dataset_input(table, name=f"{spec.name}-{context}", source=snapshot.dataset,
                                     fingerprint=snapshot.fingerprint) for context, table in contexts.items()],
                      contexts=list(contexts), tags_list=[None] * len(contexts))


def _signature(spec: ModelSpec):
    """Every feature by name, optional and of MLflow's ``Any`` type; one output per head (and a multiclass
    head's class probabilities).

    MLflow's column types cannot say "a number, maybe null": its enforcement refuses pandas' nullable ``Int64``
    for both ``long`` and ``double``, ``int64`` for ``double``, and ``bool`` or integer codes for ``string``, all
    of which real tables read back with pandas hold. The model's encoder is the contract instead: numeric
    features must cast to float (an error names the column), nulls become the training mean, and categoricals
    are compared as strings (docs/architecture.md)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    from retrain.models.base import probability_column

    inputs = [ColSpec(AnyType(), name, required=False) for name in spec.features.columns]
    outputs = []
    for head in spec.heads:  # a multiclass head: its likeliest class, then each class's probability
        outputs.append(ColSpec("string" if head.kind == "multiclass" else "double", head.name))
        outputs.extend(ColSpec("double", probability_column(head.name, c)) for c in head.classes or [])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


@functools.cache
def _pip_requirements() -> tuple[str, ...]:
    from importlib.metadata import version

    packages = ["torch", "mlflow", "pandas", "pyarrow", "numpy", "scipy"]
    return tuple(f"{name}=={version(name).split('+')[0]}" for name in packages)
