"""The tuning section of a spec, drawing from its space and applying a configuration (no Optuna study here:
the study runs end to end in tests/retrain/orchestration/test_tuning_dag.py)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from retrain.config import load_spec
from retrain.errors import SpecError
from retrain.training.tuning import apply, space_sha256, spec_values, suggest

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"


def _spec_file(tmp_path, **tuning):
    raw = yaml.safe_load(SPEC.read_text())
    raw["tuning"] = {**raw["tuning"], **tuning}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_drawn_configuration_stays_in_the_space_and_replaces_only_what_it_names():
    spec = load_spec(SPEC).spec
    space = spec.tuning.space
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    for _ in range(5):
        params = suggest(study.ask(), space)
        assert space.learning_rate.low <= params["learning_rate"] <= space.learning_rate.high
        assert params["batch_size"] in space.batch_size and params["hidden_units"] in space.hidden_units
        tuned = apply(spec, params)
        assert tuned.training.learning_rate == params["learning_rate"]
        assert tuned.architecture.hidden_units == params["hidden_units"]
        assert tuned.training.epochs == spec.training.epochs and tuned.training.seed == spec.training.seed
    assert spec_values(spec)["hidden_units"] == [64, 32]  # the spec itself is untouched
    with pytest.raises(ValueError, match="not tunable"):
        apply(spec, {"epochs": 100})
    with pytest.raises(ValueError):  # the spec's own bounds still hold
        apply(spec, {"dropout": 1.5})


def test_the_search_hash_follows_the_space_and_recipe_not_the_schedule(tmp_path):
    base = space_sha256(load_spec(SPEC).spec)
    assert space_sha256(load_spec(_spec_file(tmp_path, cron="0 1 * * 1", trials=3)).spec) == base
    assert space_sha256(load_spec(_spec_file(tmp_path, metric="click.roc_auc")).spec) != base
    assert space_sha256(load_spec(_spec_file(tmp_path, space={"batch_size": [64]})).spec) != base


@pytest.mark.parametrize(("tuning", "field"), [
    ({"metric": "nohead.rmse"}, "tuning.metric"),
    ({"metric": "dwell.roc_auc"}, "tuning.metric"),
    ({"space": {"learning_rate": {"low": 0.1, "high": 0.01}}}, "learning_rate"),
    ({"space": {"learning_rate": {"low": 0, "high": 0.01, "log": True}}}, "log range"),
    ({"cron": "weekly"}, "cron"),
    ({"trials": 0}, "trials"),
])
def test_a_bad_tuning_section_is_a_spec_error_naming_the_field(tmp_path, tuning, field):
    with pytest.raises(SpecError, match=field):
        load_spec(_spec_file(tmp_path, **tuning))
