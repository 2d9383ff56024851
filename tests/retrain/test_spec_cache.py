"""The spec cache: an unchanged spec is not parsed and validated again, in this process or the next; a
changed file, a change of the validating code or of the environment its paths depend on is seen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOOD = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())

# Loads every spec of a folder in a fresh process; prints how many were validated from YAML and the DAG ids.
COUNT = """
import json, sys
from retrain import config
validated = []
original = config._validate
config._validate = lambda raw, path: validated.append(path.name) or original(raw, path)
items = config.discover_specs(sys.argv[1])
print(json.dumps({"validated": validated, "dags": sorted(i.spec.dag_id if isinstance(i, config.LoadedSpec)
                  else "BROKEN:" + i.dag_id for i in items)}))
"""


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("RETRAIN_SPEC_CACHE", raising=False)
    return tmp_path / "state"


def _write(folder: Path, name: str, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "name": name, **changes}))
    return path


def _run(specs: Path, include: Path = ROOT / "include") -> dict:
    env = {**os.environ, "PYTHONPATH": str(include)}
    out = subprocess.run([sys.executable, "-c", COUNT, str(specs)], capture_output=True, text=True, env=env,
                         check=True, cwd=specs)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def validated(monkeypatch):
    from retrain import config

    calls: list[str] = []
    original = config._validate
    monkeypatch.setattr(config, "_validate", lambda raw, path: calls.append(path.name) or original(raw, path))
    return calls


def test_an_unchanged_spec_is_not_validated_again_in_the_next_process(state, tmp_path):
    specs = tmp_path / "specs"
    for name in ("alpha", "beta"):
        _write(specs, name)
    first = _run(specs)
    assert sorted(first["validated"]) == ["alpha.yaml", "beta.yaml"]
    second = _run(specs)
    assert second == {"validated": [], "dags": first["dags"]}
    assert (state / "spec-cache.sqlite").is_file()


def test_a_changed_spec_is_validated_again_and_loaded_as_changed(state, tmp_path, validated):
    from retrain.config import load_spec

    path = _write(tmp_path, "alpha")
    assert load_spec(path).spec.training.epochs == GOOD["training"]["epochs"]
    assert load_spec(path).spec.training.epochs == GOOD["training"]["epochs"] and validated == ["alpha.yaml"]
    _write(tmp_path, "alpha", training={**GOOD["training"], "epochs": 7})
    assert load_spec(path).spec.training.epochs == 7
    assert validated == ["alpha.yaml", "alpha.yaml"]


def test_a_spec_from_the_cache_is_the_spec_validated_from_its_file(state, validated):
    """Every field, to the type (a float default given as 60 would hash differently after JSON)."""
    from retrain.config import iter_spec_files, load_spec

    for path in iter_spec_files(ROOT / "include/specs"):
        fresh = load_spec(path)
        cached = load_spec(path)
        assert cached == fresh
        assert json.dumps(cached.spec.model_dump()) == json.dumps(fresh.spec.model_dump())
    assert len(validated) == len(list(iter_spec_files(ROOT / "include/specs")))


def test_a_broken_spec_is_never_cached_and_stays_broken(state, tmp_path, validated):
    from retrain.config import BrokenSpec, discover_specs

    _write(tmp_path, "alpha", training={**GOOD["training"], "epochs": "many"})
    for _ in range(2):
        [item] = discover_specs(tmp_path)
        assert isinstance(item, BrokenSpec) and item.dag_id == "retrain_alpha"
        assert "training.epochs" in str(item.error) and "alpha.yaml" in str(item.error)
    assert validated == ["alpha.yaml", "alpha.yaml"]


def test_a_cached_spec_whose_suite_is_gone_is_broken(state, tmp_path, monkeypatch):
    """The path checks depend on the folders, not on the bytes: they run on every load."""
    from retrain.config import BrokenSpec, LoadedSpec, discover_specs

    suites = tmp_path / "suites"
    shutil.copytree(ROOT / "include/expectations", suites)
    monkeypatch.setenv("RETRAIN_EXTRA_SUITE_ROOTS", str(suites))
    suite = suites / Path(GOOD["validation"]["suite"]).name
    _write(tmp_path / "specs", "alpha", validation={**GOOD["validation"], "suite": str(suite)})
    assert isinstance(discover_specs(tmp_path / "specs")[0], LoadedSpec)
    suite.unlink()
    [item] = discover_specs(tmp_path / "specs")
    assert isinstance(item, BrokenSpec) and "validation.suite" in str(item.error)


def test_a_change_of_the_validating_code_invalidates_the_cache(state, tmp_path):
    include = tmp_path / "include"
    shutil.copytree(ROOT / "include/retrain", include / "retrain", ignore=shutil.ignore_patterns("__pycache__"))
    specs = tmp_path / "specs"
    _write(specs, "alpha")
    assert _run(specs, include)["validated"] == ["alpha.yaml"]
    assert _run(specs, include)["validated"] == []
    config = include / "retrain" / "config.py"
    config.write_text(config.read_text() + "\n# a new rule would go here\n")
    assert _run(specs, include)["validated"] == ["alpha.yaml"]


def test_processes_sharing_the_cache_at_once_all_load_every_spec(state, tmp_path):
    specs = tmp_path / "specs"
    for i in range(30):
        _write(specs, f"model_{i:02d}")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    procs = [subprocess.Popen([sys.executable, "-c", COUNT, str(specs)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    expected = [f"retrain_model_{i:02d}" for i in range(30)]
    assert all(r["dags"] == expected for r in results)
    assert _run(specs)["validated"] == []  # and all 30 are in the cache


def test_an_unusable_cache_only_costs_time(state, tmp_path, monkeypatch, validated):
    from retrain.config import LoadedSpec, discover_specs

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RETRAIN_SPEC_CACHE", str(blocker / "spec-cache.sqlite"))
    _write(tmp_path / "specs", "alpha")
    for _ in range(2):
        assert isinstance(discover_specs(tmp_path / "specs")[0], LoadedSpec)
    assert validated == ["alpha.yaml", "alpha.yaml"]


def test_the_cache_can_be_turned_off(state, tmp_path, monkeypatch, validated):
    from retrain.config import load_spec

    monkeypatch.setenv("RETRAIN_SPEC_CACHE", "off")
    path = _write(tmp_path, "alpha")
    load_spec(path), load_spec(path)
    assert validated == ["alpha.yaml", "alpha.yaml"] and not (state / "spec-cache.sqlite").exists()


def test_the_spec_notifiers_come_back_from_the_cache(state, tmp_path, validated):
    """Only the spec's own list is cached; without one the deployment's RETRAIN_NOTIFIERS decides at alert time."""
    from retrain.config import load_spec

    listed = _write(tmp_path, "alpha", alerts={**GOOD["alerts"], "notifiers": ["log"]})
    unlisted = _write(tmp_path, "beta")
    for _ in range(2):
        assert load_spec(listed).spec.alerts.notifiers == ["log"]
        assert load_spec(unlisted).spec.alerts.notifiers is None
    assert validated == ["alpha.yaml", "beta.yaml"]
