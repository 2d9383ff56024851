"""The model specs split over several DAG files (RETRAIN_PARSE_SHARDS): every spec's DAG comes from exactly one
file, the same DAG the single file builds, broken specs and clashes included; a task process still builds
only its own DAG."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOOD = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())
SHARDS = 3
COPY_SHARD = 0  # twin.yaml is in shard 2 (checked below); its copy in another


def _shard_file(dags: Path, k: int) -> Path:
    from retrain.orchestration.parsing import SHARD_FILE

    return dags / ("retrain_models.py" if k == 0 else SHARD_FILE.format(k))


def _names_in(shard: int, count: int, prefix: str = "m") -> list[str]:
    from retrain.orchestration.parsing import shard_of

    return [n for n in (f"{prefix}{i}" for i in range(200)) if shard_of(Path(f"{n}.yaml"), SHARDS) == shard][:count]


@pytest.fixture
def specs(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in [*_names_in(0, 2), *_names_in(1, 2), *_names_in(2, 2)]:
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(dict(GOOD, name=name)))
    broken = _names_in(1, 3, "bad")[-1]
    (folder / f"{broken}.yaml").write_text(yaml.safe_dump(dict(GOOD, name=broken, training="many epochs")))
    # Two files claiming model "twin", in different shards: the one named after it keeps the DAG id.
    copy = _names_in(COPY_SHARD, 1, "copy")[0]
    (folder / "twin.yaml").write_text(yaml.safe_dump(dict(GOOD, name="twin")))
    (folder / f"{copy}.yaml").write_text(yaml.safe_dump(dict(GOOD, name="twin")))
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(folder))
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", raising=False)
    return folder


@pytest.fixture
def dags(tmp_path, monkeypatch):
    from retrain.orchestration.parsing import write_shard_files

    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(ROOT / "dags/retrain_models.py", folder)
    monkeypatch.setenv("RETRAIN_PARSE_SHARDS", str(SHARDS))
    write_shard_files(folder, SHARDS)
    return folder


def _shape(dag) -> dict:
    return {"tags": sorted(dag.tags), "description": dag.description,
            "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}}


def _per_file(dags: Path) -> dict[int, dict]:
    from retrain.orchestration.dag_factory import build_all

    return {k: build_all(dag_file=_shard_file(dags, k)) for k in range(SHARDS)}


def test_every_spec_lands_in_exactly_one_shard_and_it_is_stable():
    from retrain.orchestration.parsing import shard_of

    files = [Path(f"model_{i:05d}.yaml") for i in range(1000)]
    for shards in (1, 2, 7, 32):
        placed = [shard_of(f, shards) for f in files]
        assert all(0 <= k < shards for k in placed)
        if shards > 1:  # spread: no shard gets more than twice its share
            assert max(placed.count(k) for k in range(shards)) < 2 * len(files) / shards
    assert shard_of(Path("model_00042.yaml"), 32) == 12  # crc32: the same in every process and version


def test_the_shard_files_together_build_every_dag_each_once_and_the_same_dags(specs, dags, monkeypatch):
    from retrain.orchestration.dag_factory import build_all

    per_file = _per_file(dags)
    ids = [dag_id for built in per_file.values() for dag_id in built]
    assert len(ids) == len(set(ids))  # no DAG from two files
    monkeypatch.setenv("RETRAIN_PARSE_SHARDS", "1")
    whole = build_all(dag_file=dags / "retrain_models.py")
    assert set(ids) == set(whole) and len(whole) == 9
    for built in per_file.values():
        for dag_id, dag in built.items():
            assert _shape(dag) == _shape(whole[dag_id]), dag_id
    assert all(per_file.values())  # every file has some


def test_a_broken_spec_is_its_own_placeholder_in_its_shard(specs, dags):
    broken = _names_in(1, 3, "bad")[-1]
    dag = _per_file(dags)[1][f"retrain_{broken}"]
    assert "invalid-spec" in dag.tags and f"{broken}.yaml" in dag.description and "training" in dag.description


def test_a_clash_across_shards_is_settled_as_in_one_file(specs, dags):
    from retrain.orchestration.parsing import shard_of

    copy = _names_in(COPY_SHARD, 1, "copy")[0]
    per_file = _per_file(dags)
    assert shard_of(Path("twin.yaml"), SHARDS) == 2  # the two files are in different shards
    twin = per_file[2]["retrain_twin"]
    assert "invalid-spec" not in twin.tags and len(twin.tasks) == 11
    placeholder = per_file[COPY_SHARD][f"retrain_{copy}.yaml"]
    assert "invalid-spec" in placeholder.tags and "twin.yaml keeps it" in placeholder.description


def test_shard_zero_builds_the_shards_whose_file_is_missing(specs, dags):
    from retrain.orchestration.dag_factory import build_all

    everything = {d for built in _per_file(dags).values() for d in built}
    _shard_file(dags, 2).unlink()
    assert set(build_all(dag_file=dags / "retrain_models.py")) == everything - set(_per_file(dags)[1])


def test_a_shard_file_left_from_a_larger_count_builds_nothing(specs, dags, monkeypatch):
    from retrain.orchestration.dag_factory import build_all

    monkeypatch.setenv("RETRAIN_PARSE_SHARDS", "2")
    assert build_all(dag_file=_shard_file(dags, 2)) == {}


def test_a_task_process_builds_its_dag_from_its_shard_file_only(specs, dags, monkeypatch):
    from retrain.orchestration.dag_factory import build_all

    name = _names_in(1, 1)[0]
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", f"retrain_{name}")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "train")
    assert list(build_all(dag_file=_shard_file(dags, 1))) == [f"retrain_{name}"]
    assert build_all(dag_file=_shard_file(dags, 2)) == {}


def test_dagbag_over_the_sharded_folder(specs, dags):
    """What the dag-processor sees: every DAG once, no import error, each from its shard's file."""
    from airflow.dag_processing.dagbag import DagBag
    from retrain.orchestration.parsing import shard_of

    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    assert len(bag.dag_ids) == 9
    for dag_id, dag in bag.dags.items():
        stem = dag_id.removeprefix("retrain_").removesuffix(".yaml")
        if (specs / f"{stem}.yaml").is_file():
            assert Path(dag.fileloc) == _shard_file(dags, shard_of(Path(f"{stem}.yaml"), SHARDS)), dag_id


def test_writing_fewer_shards_removes_the_extra_files(dags):
    from retrain.orchestration.parsing import write_shard_files

    assert sorted(p.name for p in dags.glob("*.py")) == [
        "retrain_models.py", "retrain_models_shard_1.py", "retrain_models_shard_2.py"]
    write_shard_files(dags, 2)
    assert sorted(p.name for p in dags.glob("*.py")) == ["retrain_models.py", "retrain_models_shard_1.py"]


def test_a_first_parse_validates_only_its_shard_and_the_rivals_of_its_specs(specs, dags, monkeypatch):
    """With nothing cached yet, a shard file does not validate every spec of the folder (at 10,000 specs that
    alone would pass dagbag_import_timeout): the others are ruled out by the name their YAML gives."""
    from retrain import config
    from retrain.orchestration.dag_factory import build_all
    from retrain.orchestration.parsing import shard_of

    validated = []
    original = config._validate
    monkeypatch.setattr(config, "_validate", lambda raw, path: validated.append(path.name) or original(raw, path))
    build_all(dag_file=_shard_file(dags, COPY_SHARD))
    mine = {p.name for p in specs.glob("*.yaml") if shard_of(p, SHARDS) == COPY_SHARD}
    # twin.yaml (the model its copy in this shard names) is loaded too, from the cache: the copy has its bytes
    assert set(validated) == mine and len(mine) < len(list(specs.glob("*.yaml"))) / 2
