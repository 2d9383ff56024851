"""Model artifacts: nothing from the artifact store executes or loads unless every file matches the digest
recorded at training, on every path that loads a model (evaluate, promote, rollback, reproduce, batch scoring).

Each test tampers with the files of a real registered version in a real local MLflow store, the way someone
with write access to the artifact store (and nothing else) could.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest
import yaml

MARKER_NAME = "planted-code-ran"


def _plant_code(folder: Path, marker: Path) -> None:
    """Append a line to every Python file of the version, and point MLmodel at a planted loader module."""
    payload = f"\nopen({str(marker)!r}, 'w').write('ran')\n"
    for py in folder.rglob("*.py"):
        py.write_text(py.read_text() + payload)
    code = folder / "code"
    code.mkdir(exist_ok=True)
    (code / "evil_loader.py").write_text(payload + "def _load_pyfunc(path, config=None):\n    raise RuntimeError('planted')\n")
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    meta["flavors"]["python_function"].update({"loader_module": "evil_loader", "code": "code"})
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))


class _Payload:
    """What a malicious weights.pt unpickles to: code that runs at load time."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_logged_model_ships_no_code_and_every_file_is_digested(pipeline):
    trained, evaluation, _ = pipeline.run("scheduled__1")
    folder = pipeline.version_folder(evaluation["challenger_version"])
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith((".py", ".pyc", ".pkl"))], files
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "retrain.tracking.pyfunc" and not flavor.get("code")
    recorded = json.loads(pipeline.client().get_model_version(pipeline.name, "1").tags["retrain.artifact_sha256"])
    assert sorted(recorded) == files  # every file, not just the bundle


def test_code_planted_in_the_champion_never_runs_and_the_next_run_goes_on(pipeline, slack):
    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    marker = pipeline.tmp / MARKER_NAME
    _plant_code(pipeline.version_folder("1"), marker)

    trained, evaluation, decision = pipeline.run("scheduled__2")  # evaluate loads the champion

    assert not marker.exists(), "code from the artifact store ran"
    assert evaluation["candidate"]["click"]["roc_auc"] > 0  # the candidate was still evaluated
    assert evaluation["champion"] is None and evaluation["champion_version"] == "1"
    assert "changed since training" in evaluation["champion_unusable"]
    assert decision["reasons"][0].startswith("champion version 1 is unusable")
    assert "counts as no champion" in decision["reasons"][0]
    client = pipeline.client()
    assert client.get_run(trained["run_id"]).data.tags["retrain.champion_unusable"]
    told = [m.text for m in slack.messages if "champion version 1 cannot be used" in (m.text or "")]
    assert told and "MLmodel" in told[0]
    from retrain.errors import ArtifactIntegrityError
    from retrain.tracking.artifacts import load_verified_model

    with pytest.raises(ArtifactIntegrityError, match="changed since training"):
        load_verified_model(f"models:/{pipeline.name}@champion")
    assert not marker.exists()


def test_every_kind_of_tampering_is_refused_by_every_loader(pipeline):
    """Batch scoring (plain ``mlflow.pyfunc.load_model`` and ``load_verified_model``) and promotion's check."""
    import mlflow.pyfunc
    from retrain.tracking import registry
    from retrain.tracking.registry import ArtifactIntegrityError

    def load_verified_model(uri):
        from retrain.tracking.artifacts import load_verified_model as load

        return load(uri)

    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    folder = pipeline.version_folder("1")
    client = pipeline.client()
    uri = f"models:/{pipeline.name}@champion"
    assert list(mlflow.pyfunc.load_model(uri).predict(_frame(pipeline)).columns) == ["dwell", "click"]

    def flip_byte(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    weights = next(folder.rglob("weights.pt"))
    bundle = weights.parent
    tampers = {
        "weights flipped": lambda: flip_byte(weights),
        "weights truncated": lambda: weights.write_bytes(weights.read_bytes()[:100]),
        "config changed": lambda: (bundle / "model_config.json").write_text("{}"),
        "encoder removed": lambda: (bundle / "encoder.json").unlink(),
        "file added": lambda: (bundle / "extra.pt").write_bytes(b"x"),
        "requirements changed": lambda: (folder / "requirements.txt").write_text("evil-package==6.6.6\n"),
        "weights replaced by a link": lambda: (weights.unlink(), weights.symlink_to("/etc/hostname")),
    }
    pristine = pipeline.tmp / "pristine"
    shutil.copytree(folder, pristine)
    for what, tamper in tampers.items():
        tamper()
        for load in (mlflow.pyfunc.load_model, load_verified_model):
            with pytest.raises(ArtifactIntegrityError):
                load(uri)
        with pytest.raises(ArtifactIntegrityError):
            registry.verify_artifacts(client, pipeline.name, "1")
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)
        assert registry.verify_artifacts(client, pipeline.name, "1"), what


def _frame(pipeline):
    from retrain.data.freshness import DataSnapshot
    from retrain.pipeline.training_stage import load_split

    _, holdout = load_split(pipeline.loaded.spec, DataSnapshot.from_dict(pipeline.snapshot))
    return holdout.select(pipeline.loaded.spec.features.columns).slice(0, 20).to_pandas()


def test_rollback_to_a_tampered_version_is_refused(pipeline, capsys):
    from retrain.cli import main
    from retrain.tracking import registry

    for run in ("scheduled__1", "scheduled__2"):
        trained, evaluation, decision = pipeline.run(run)
        pipeline.promote(trained, evaluation, decision)
    client = pipeline.client()
    assert str(client.get_model_version_by_alias(pipeline.name, "champion").version) == "2"
    weights = next(pipeline.version_folder("1").rglob("weights.pt"))
    weights.write_bytes(weights.read_bytes() + b"\x00")

    assert main(["rollback", pipeline.name, "--to", "1", "--reason", "bad release"]) == 2
    assert "changed since training (changed: data/bundle/weights.pt)" in capsys.readouterr().err
    assert str(client.get_model_version_by_alias(pipeline.name, "champion").version) == "2"
    assert [m.to_version for m in registry.history(client, pipeline.name)] == ["1", "2"]


def test_a_champion_that_unpickles_code_is_refused_unexecuted_and_nobody_is_told_to_unpickle(pipeline, slack):
    """A weights.pt that is a pickle with code, whose digest was recorded as if it had been trained: the
    digest passes, torch's weights-only load refuses it, and no message suggests ``weights_only=False``."""
    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    marker = pipeline.tmp / MARKER_NAME
    folder = pipeline.version_folder("1")
    next(folder.rglob("weights.pt")).write_bytes(pickle.dumps({"w": _Payload(str(marker))}))
    client = pipeline.client()
    digests = json.dumps({p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                          for p in folder.rglob("*") if p.is_file()})
    DIGEST_TAG = "retrain.artifact_sha256"  # noqa: N806 - the tag training records
    client.set_model_version_tag(pipeline.name, "1", DIGEST_TAG, digests)
    client.set_tag(trained["run_id"], DIGEST_TAG, digests)

    trained2, evaluation2, decision2 = pipeline.run("scheduled__2")

    assert not marker.exists(), "the pickle in weights.pt was executed"
    assert evaluation2["candidate"] and evaluation2["champion"] is None
    assert "not a plain state dict" in evaluation2["champion_unusable"]
    texts = [m.text or "" for m in slack.messages] + [json.dumps(decision2)]
    assert any("champion version 1 cannot be used" in t for t in texts)
    assert not any("weights_only=False" in t or "weights_only` set to `False" in t for t in texts)


def test_reproduce_refuses_a_manifest_changed_in_the_artifact_store(pipeline, capsys):
    from retrain.cli import main

    trained, _, _ = pipeline.run("scheduled__1")
    manifest = next((pipeline.tmp / "state").rglob(f"{trained['run_id']}/artifacts/lineage/manifest.json"))
    content = json.loads(manifest.read_text())
    content["spec"]["content"] = content["spec"]["content"].replace("epochs: 3", "epochs: 1")
    content["data"]["files"] = ["/etc/passwd"]
    manifest.write_text(json.dumps(content))

    assert main(["reproduce", trained["run_id"]]) == 2
    assert "lineage/manifest.json changed since training; not reproducing" in capsys.readouterr().err


def test_a_segment_champion_is_verified_before_it_is_loaded(pipeline):
    """Segment models are logged and registered like single models; the champion's files are checked before
    loading, and a changed one counts as no champion (the reason is in the segment's outcome)."""
    import dataclasses

    from retrain.config import GateSpec, SegmentsSpec
    from retrain.contracts import RunInfo
    from retrain.pipeline import segment_stage

    from tests.security.conftest import AS_OF

    # no thresholds: a tiny segment's AUC is not what this test is about
    spec = pipeline.loaded.spec.model_copy(
        update={"segments": SegmentsSpec(column="country", max_per_task=2), "gate": GateSpec()})
    loaded = dataclasses.replace(pipeline.loaded, spec=spec)
    run = RunInfo(spec.dag_id, "scheduled__1", 1, AS_OF)
    first = segment_stage.train_chunk(loaded, pipeline.snapshot, ["DE"], run)[0]
    assert first["status"] == "promoted", first["reasons"]
    second = segment_stage.train_chunk(loaded, pipeline.snapshot, ["DE"], dataclasses.replace(run, run_id="scheduled__2"))[0]
    assert second["status"] in {"promoted", "rejected"} and not any("unusable" in r for r in second["reasons"])
    client = pipeline.client()
    champion = client.get_model_version_by_alias("ecommerce_dwell_time__DE", "champion")
    source = client.get_model_version("ecommerce_dwell_time__DE", champion.version).source
    import mlflow

    folder = mlflow.get_logged_model(source.removeprefix("models:/")).artifact_location.removeprefix("file://")
    weights = Path(folder) / "data/bundle/weights.pt"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")

    third = segment_stage.train_chunk(loaded, pipeline.snapshot, ["DE"], dataclasses.replace(run, run_id="scheduled__3"))[0]

    assert third["status"] in {"promoted", "rejected"}
    assert third["reasons"][0].startswith(f"champion version {champion.version} is unusable")
    assert "changed since training (changed: data/bundle/weights.pt)" in third["reasons"][0]


def test_batch_scoring_loads_the_very_files_it_verified(pipeline, monkeypatch):
    """Code planted in the store right after the scoring task checked the champion never runs: the task loads
    the copy it verified, not a second download (which would be unverified until our loader, if at all, ran)."""
    import dataclasses

    from retrain.config import ScoringSpec
    from retrain.pipeline.scoring_stage import score_newest_partition
    from retrain.tracking import artifacts

    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    loaded = dataclasses.replace(pipeline.loaded, spec=pipeline.loaded.spec.model_copy(
        update={"scoring": ScoringSpec(output="predictions/dwell")}))
    marker = pipeline.tmp / MARKER_NAME
    checked = artifacts.check_files

    def check_then_swap(local, expected, what):
        checked(local, expected, what)
        _plant_code(pipeline.version_folder("1"), marker)  # the store changes just after the check passed

    monkeypatch.setattr(artifacts, "check_files", check_then_swap)
    landed = score_newest_partition(loaded)

    assert not marker.exists(), "code from the artifact store ran"
    assert landed["champion_version"] == "1" and landed["rows"] > 0


def test_batch_scoring_never_overwrites_a_partition_it_did_not_write(pipeline):
    """A spec's scoring.output pointed at another dataset (another team's training data) replaced that day's
    part-00000.parquet with predictions. Predictions now replace only predictions of the same model."""
    import dataclasses

    from retrain.config import ScoringSpec
    from retrain.errors import PathNotAllowedError
    from retrain.pipeline.scoring_stage import score_newest_partition
    from retrain_demo.data import generate_demo_data

    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    from tests.security.conftest import END

    generate_demo_data(pipeline.tmp / "data" / "other-team", END, days=1, rows_per_day=40)
    [victim] = (pipeline.tmp / "data" / "other-team").rglob("part-00000.parquet")
    before = victim.read_bytes()
    target = victim.parent.parent.relative_to(pipeline.tmp / "data")
    hostile = dataclasses.replace(pipeline.loaded, spec=pipeline.loaded.spec.model_copy(
        update={"scoring": ScoringSpec(output=str(target))}))
    with pytest.raises(PathNotAllowedError, match=r"part-00000.parquet.*not written by score_ecommerce_dwell_time"):
        score_newest_partition(hostile)
    assert victim.read_bytes() == before

    own = dataclasses.replace(pipeline.loaded, spec=pipeline.loaded.spec.model_copy(
        update={"scoring": ScoringSpec(output="predictions/dwell")}))
    first, again = score_newest_partition(own), score_newest_partition(own)  # rescoring replaces its own
    assert first["predictions"] == again["predictions"] and again["rows"] == first["rows"] > 0
