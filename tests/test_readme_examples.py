"""The README's "Add a model" examples are what a newcomer copies: the spec and the suite load as written."""

from __future__ import annotations

import re
from pathlib import Path

from retrain.config import load_spec
from retrain.validation import load_suite

ROOT = Path(__file__).resolve().parents[1]


def _yaml_blocks(section: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    text = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_the_add_a_model_spec_and_suite_load_as_written(tmp_path, monkeypatch):
    spec_text, suite_text = _yaml_blocks("Add a model")
    (tmp_path / "include" / "expectations").mkdir(parents=True)
    (tmp_path / "include" / "expectations" / "churn.yaml").write_text(suite_text)
    (tmp_path / "churn_risk.yaml").write_text(spec_text)
    monkeypatch.setenv("RETRAIN_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))

    suite = load_suite(tmp_path / "include" / "expectations" / "churn.yaml")
    spec = load_spec(tmp_path / "churn_risk.yaml").spec
    assert spec.dag_id == "retrain_churn_risk" and spec.validation.suite == "expectations/churn.yaml"
    assert [h.kind for h in spec.heads] == ["binary", "regression"]
    assert [e.expect for e in suite.expectations][:2] == ["column_values_to_not_be_null", "column_values_to_be_between"]
