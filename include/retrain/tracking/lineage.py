"""The reproducibility manifest: everything needed to explain, and re-run, one training run.

Logged twice: flattened into run tags (searchable in the MLflow UI) and whole as ``lineage/manifest.json``.
``retrain reproduce <run>`` reads the JSON back and trains again.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

from retrain.config import LoadedSpec
from retrain.contracts import RunInfo
from retrain.data.freshness import DataSnapshot
from retrain.settings import Settings
from retrain.tracking import tags

MANIFEST_PATH = "lineage/manifest.json"
SNAPSHOT_PATH = "data/snapshot.json"
VALIDATION_PATH = "validation/report.json"  # the data contract's report, with the champion's drift reference
LINEAGE_DIGEST_TAG = "retrain.lineage_sha256"  # digests of the manifest and snapshot, checked by reproduce


def content_sha256(obj) -> str:
    """sha256 of a JSON document's content (key order and whitespace do not matter)."""
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load_verified_document(run_id: str, run_tags: dict[str, str], path: str) -> dict:
    """A JSON artifact of a run, only if it matches the digest recorded at training (``LINEAGE_DIGEST_TAG``):
    the store's files can be replaced by anyone who can write to it. Raises ArtifactIntegrityError."""
    import json

    import mlflow.artifacts

    from retrain.errors import ArtifactIntegrityError

    try:
        expected = (json.loads(run_tags.get(LINEAGE_DIGEST_TAG) or "{}") or {}).get(path)
    except (json.JSONDecodeError, AttributeError):
        expected = None
    if not expected:
        raise ArtifactIntegrityError(f"run {run_id}: {path} has no digest recorded at training ({LINEAGE_DIGEST_TAG})")
    document = mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    if content_sha256(document) != expected:
        raise ArtifactIntegrityError(f"run {run_id}: {path} changed since training")
    return document


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hardware(device) -> dict[str, str]:
    import torch

    info = {"device": str(device), "cpu": platform.processor() or platform.machine(), "cpu_count": str(_cpus())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def build_manifest(loaded: LoadedSpec, snapshot: DataSnapshot, run: RunInfo, settings: Settings, device) -> dict:
    import torch

    from retrain.tracking.mlflow_store import git_commit

    commit, dirty = git_commit(settings.project_root)
    lockfile = settings.project_root / "requirements.lock"
    spec = loaded.spec
    return {
        "code": {"git_commit": commit, "git_dirty": dirty},
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda or "none",
            "lockfile_sha256": file_sha256(lockfile) if lockfile.exists() else "missing",
        },
        "data": {
            "dataset": snapshot.dataset,
            "as_of": snapshot.as_of,
            "partitions": [Path(p).name for p in snapshot.partitions],
            "files": snapshot.files,
            "rows": snapshot.total_rows,
            "fingerprint": snapshot.fingerprint,
        },
        "spec": {
            "name": spec.name,
            "file": str(loaded.path),
            "sha256": loaded.sha256,
            "content": loaded.path.read_text(),
        },
        "training": {"seed": spec.training.seed, **spec.training.model_dump(), **spec.architecture.model_dump()},
        "airflow": {"dag_id": run.dag_id, "run_id": run.run_id, "try_number": run.try_number},
        "hardware": hardware(device),
    }


def manifest_tags(manifest: dict) -> dict[str, str]:
    """The manifest's scalar facts as run tags (the JSON artifact keeps the rest)."""
    return {
        "mlflow.source.git.commit": manifest["code"]["git_commit"],
        "retrain.git_dirty": str(manifest["code"]["git_dirty"]).lower(),
        "retrain.python": manifest["environment"]["python"],
        "retrain.torch": manifest["environment"]["torch"],
        "retrain.cuda": manifest["environment"]["cuda"],
        "retrain.lockfile_sha256": manifest["environment"]["lockfile_sha256"],
        tags.DATA_FINGERPRINT: manifest["data"]["fingerprint"],
        "retrain.data_partitions": ",".join(manifest["data"]["partitions"]),
        "retrain.spec_file": manifest["spec"]["file"],
        tags.SPEC_SHA256: manifest["spec"]["sha256"],
        "retrain.seed": str(manifest["training"]["seed"]),
        "retrain.device": manifest["hardware"]["device"],
        "retrain.hardware": manifest["hardware"].get("gpu") or manifest["hardware"]["cpu"],
    }


def dataset_input(table, *, name: str, source: str, fingerprint: str):
    """An MLflow dataset input for the rows of a pyarrow ``table``: schema from its column types, the row count
    as profile, and a digest of the snapshot's content hash, name and row count. Nothing reads the rows: MLflow's
    pandas dataset converts every cell to a Python object to infer types and digest (docs/architecture.md)."""
    import json
    import warnings

    import pyarrow as pa
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, Schema

    def mlflow_type(kind: pa.DataType) -> str:
        checks = ((pa.types.is_boolean, "boolean"), (pa.types.is_integer, "long"), (pa.types.is_floating, "double"),
                  (pa.types.is_temporal, "datetime"), (pa.types.is_binary, "binary"))
        return next((name for check, name in checks if check(kind)), "string")

    class TableDataset(MetaDataset):
        @property
        def profile(self) -> dict[str, int]:
            return {"num_rows": table.num_rows, "num_elements": table.num_rows * table.num_columns}

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(self.profile)}

    schema = Schema([ColSpec(mlflow_type(field.type), field.name, required=table.column(field.name).null_count == 0)
                     for field in table.schema])
    digest = hashlib.sha256(f"{fingerprint}\n{name}\n{table.num_rows}".encode()).hexdigest()[:8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a plain path can be read as several kinds of source: MLflow says so
        resolved = resolve_dataset_source(source)
    return TableDataset(resolved, name=name, digest=digest, schema=schema)
