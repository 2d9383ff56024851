"""Re-run a training run from its manifest and check that it gives the same holdout metrics.

On the CPU, with the seeds, data and code the manifest names, training is deterministic, so the metrics
must match to float precision. A different data fingerprint or code version is reported, not hidden.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from retrain.tracking.lineage import MANIFEST_PATH, SNAPSHOT_PATH, load_verified_document


@dataclass
class Reproduction:
    run_id: str
    original: dict[str, float]
    reproduced: dict[str, float]
    notes: list[str] = field(default_factory=list)
    tolerance: float = 1e-6

    @property
    def differences(self) -> dict[str, tuple[float, float]]:
        out = {}
        for key, value in self.original.items():
            other = self.reproduced.get(key, float("nan"))
            if not (math.isclose(value, other, abs_tol=self.tolerance) or (math.isnan(value) and math.isnan(other))):
                out[key] = (value, other)
        return out

    @property
    def matches(self) -> bool:
        return bool(self.original) and not self.differences

    def report(self) -> list[str]:
        lines = [f"run {self.run_id}: {'REPRODUCED' if self.matches else 'DIFFERENT'}", *self.notes]
        for key in sorted(self.original):
            lines.append(f"  {key:<24} original {self.original[key]:.6f}  reproduced {self.reproduced.get(key, float('nan')):.6f}")
        return lines


def _verified_lineage(run) -> tuple[dict, dict]:
    """The run's manifest and snapshot, only if they match the digests recorded when it trained: the
    manifest's spec is what gets trained, and the snapshot names the files that get read."""
    from retrain.errors import ArtifactIntegrityError

    try:
        return tuple(load_verified_document(run.info.run_id, run.data.tags, path)
                     for path in (MANIFEST_PATH, SNAPSHOT_PATH))
    except ArtifactIntegrityError as exc:
        raise ArtifactIntegrityError(f"{exc}; not reproducing: its manifest cannot be trusted") from None


def reproduce(client, run_id: str) -> Reproduction:
    import torch

    from retrain.config import load_spec
    from retrain.data.encoding import head_labels
    from retrain.data.freshness import DataSnapshot, fingerprint_files
    from retrain.pipeline.training_stage import build_and_fit, load_split
    from retrain.tracking.mlflow_store import git_commit
    from retrain.training.metrics import head_metrics

    run = client.get_run(run_id)
    manifest, snapshot_dict = _verified_lineage(run)
    snapshot = DataSnapshot.from_dict(snapshot_dict)
    notes = []
    files = [Path(f) for f in snapshot.files]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"the run's data files are gone: {missing[:3]}")
    if fingerprint_files(files, Path(snapshot.dataset)) != manifest["data"]["fingerprint"]:
        notes.append("note: the data files changed since the run (fingerprint differs)")
    commit, dirty = git_commit(Path(__file__).resolve().parents[3])
    if commit != manifest["code"]["git_commit"]:
        notes.append(f"note: code is at {commit[:12]}, the run used {manifest['code']['git_commit'][:12]}")
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / Path(manifest["spec"]["file"]).name
        spec_path.write_text(manifest["spec"]["content"])
        spec = load_spec(spec_path).spec
    chosen = manifest.get("hyperparameters") or {}
    if chosen.get("source") == "tuned":  # the run trained with tuned values, not the spec file's
        from retrain.training.tuning import apply

        spec = apply(spec, chosen["params"])
    train, holdout = load_split(spec, snapshot)
    bundle, _ = build_and_fit(spec, train, holdout, torch.device("cpu"))
    predictions = bundle.predict_table(holdout)
    reproduced, original = {}, {}
    labels = head_labels(holdout, spec.heads, spec.data.drop_unlabeled_rows)
    for head in spec.heads:
        for metric, value in head_metrics(head.kind, labels[head.name], predictions[head.name]).items():
            key = f"{head.name}.{metric}"
            if key in run.data.metrics:
                original[key] = run.data.metrics[key]
                reproduced[key] = value
    return Reproduction(run_id=run_id, original=original, reproduced=reproduced, notes=notes)
