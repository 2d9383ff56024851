"""Batch scoring with the champion: the newest complete partition in, a predictions partition out.

Predictions land under the same contract as data (parquet written atomically, then the ``_SUCCESS``
manifest), so whoever reads them waits for the marker exactly as the model DAGs do. The champion's files
are re-hashed against the digest recorded at training before the model is loaded (``verify_artifacts``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from retrain.config import LoadedSpec
from retrain.errors import DataReadError
from retrain.settings import get_settings

log = logging.getLogger(__name__)


def score_newest_partition(loaded: LoadedSpec) -> dict | None:
    """Score the newest complete input partition with the current champion; land the predictions.

    Returns what landed (the partition day, rows, the champion version and the predictions folder), or None
    when the model has no champion yet (nothing to score with; not an error)."""
    import pyarrow as pa

    from retrain.data.landing import list_complete_partitions, partition_folder, write_partition
    from retrain.data.loading import read_table
    from retrain.errors import RetrainError
    from retrain.tracking import mlflow_store
    from retrain.tracking.artifacts import load_verified

    spec, settings = loaded.spec, get_settings()
    if spec.scoring is None:
        raise RetrainError(f"{loaded.path}: the spec has no scoring section")
    data = spec.data
    partitions = list_complete_partitions(settings.resolve_data_path(data.location), data.partition_prefix,
                                          data.completion_marker)
    if not partitions:
        raise DataReadError(f"{data.location}: no complete partition to score")
    newest = partitions[-1]
    client = mlflow_store.connect(settings)
    champion = mlflow_store.champion_version(client, spec.registered_model_name)
    if champion is None:
        log.warning("%s has no champion yet: nothing to score with", spec.name)
        return None
    version = str(champion.version)
    model = load_verified(client, spec.registered_model_name, version)  # one download: the files it checked
    columns = list(dict.fromkeys([*spec.features.columns, *spec.scoring.passthrough_columns]))
    table = read_table(list(newest.files), columns=columns)
    predictions = model.predict(table.select(spec.features.columns).to_pandas())
    out = table.select(spec.scoring.passthrough_columns)
    for head in spec.heads:
        out = out.append_column(f"{head.name}_prediction", pa.array(predictions[head.name].to_numpy(), pa.float64()))
    scored_at = datetime.now(UTC).isoformat(timespec="seconds")
    out = out.replace_schema_metadata({"retrain.model": spec.name, "retrain.champion_version": version,
                                       "retrain.scored_at": scored_at})
    target = settings.resolve_data_path(spec.scoring.output)
    _refuse_to_overwrite_data(partition_folder(target, newest.day), spec.name)
    folder = write_partition(out, target, newest.day)
    log.info("scored %s (%d rows) with %s version %s: %s", newest.path.name, out.num_rows, spec.name, version, folder)
    return {"day": newest.day.isoformat(), "rows": out.num_rows, "champion_version": version,
            "predictions": str(folder), "input": str(newest.path)}


def _refuse_to_overwrite_data(folder, model: str) -> None:
    """Predictions replace only this model's earlier predictions of the day (its ``retrain.model`` metadata):
    a ``scoring.output`` that points at a dataset (its own input, another team's) must not overwrite it."""
    import pyarrow.parquet as pq

    from retrain.errors import PathNotAllowedError

    for existing in sorted(folder.glob("*.parquet")):
        written_by = (pq.read_schema(existing).metadata or {}).get(b"retrain.model", b"").decode(errors="replace")
        if written_by != model:
            raise PathNotAllowedError(
                f"{existing}: scoring.output already holds this day's data, not written by score_{model} "
                f"(its 'retrain.model' metadata is {written_by or 'absent'!r}); predictions never overwrite "
                "data: point scoring.output at a folder of its own")
