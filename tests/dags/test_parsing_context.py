"""A task process parses the DAG file for its own DAG only (Airflow's parsing context); the dag-processor,
without a context, still gets every DAG, placeholders for broken specs included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOOD = yaml.safe_load((ROOT / "include/specs/ecommerce_esmm.yaml").read_text())


@pytest.fixture
def specs(tmp_path, monkeypatch):
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(dict(GOOD, name=name)))
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(dict(GOOD, name="broken", training="many epochs")))
    (tmp_path / "renamed.yml").write_text(yaml.safe_dump(dict(GOOD, name="churn")))  # file name != model name
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(tmp_path))
    return tmp_path


def _build(dag_id: str | None) -> dict:
    """build_all as a parse with the context the task runner sets (its environment variables), or none."""
    from retrain.orchestration.dag_factory import build_all

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
        patch.delenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", raising=False)
        if dag_id is not None:
            patch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", dag_id)
            patch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "train")
        return build_all()


def _shape(dag) -> dict:
    return {"tags": sorted(dag.tags), "description": dag.description, "schedule": type(dag.timetable).__name__, "timetable": getattr(dag.timetable, "summary", None),
            "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}}


def test_without_a_parsing_context_every_dag_is_built(specs):
    assert set(_build(None)) == {"retrain_alpha", "retrain_beta", "retrain_gamma", "retrain_broken", "retrain_churn"}


@pytest.mark.parametrize("dag_id", ["retrain_beta", "retrain_broken", "retrain_churn"])
def test_a_task_process_builds_only_its_dag_and_the_same_dag(specs, dag_id):
    only = _build(dag_id)
    assert list(only) == [dag_id]
    assert _shape(only[dag_id]) == _shape(_build(None)[dag_id])
    if dag_id == "retrain_broken":
        assert "invalid-spec" in only[dag_id].tags and "training" in only[dag_id].description


def test_a_task_reads_only_its_own_spec_file(specs, monkeypatch):
    from retrain import config

    read = []
    original = config.load_spec
    monkeypatch.setattr("retrain.orchestration.parsing.load_spec", lambda p: read.append(Path(p).name) or original(p))
    assert list(_build("retrain_gamma")) == ["retrain_gamma"]
    assert read == ["gamma.yaml"]


def test_an_unknown_dag_id_falls_back_to_every_dag(specs):
    assert len(_build("retrain_nobody")) == 5  # Airflow then reports the DAG missing, as before


def test_the_dag_file_honours_the_context_set_by_the_task_runner(specs):
    """The DAG file run as Airflow's task runner runs it: the context comes from the environment."""
    code = "import runpy, sys, json; g = runpy.run_path(sys.argv[1]); print(json.dumps(sorted(k for k in g if k.startswith('retrain_'))))"
    env = {**os.environ, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": "retrain_alpha", "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "train"}
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "dags/retrain_models.py")],
                         capture_output=True, text=True, check=True, env=env)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["retrain_alpha"]
