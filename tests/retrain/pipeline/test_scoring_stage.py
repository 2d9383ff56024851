"""Batch scoring before there is anything to score with, or anything to score."""

from __future__ import annotations

from datetime import date

import pytest
from retrain.config import LoadedSpec, ScoringSpec, load_spec
from retrain.errors import DataReadError, RetrainError
from retrain.pipeline.scoring_stage import score_newest_partition
from retrain_demo.data import generate_demo_data

from tests.retrain.orchestration.helpers import SPEC
from tests.support.mlflow_db import migrated_mlflow


@pytest.fixture
def scoring_spec(tmp_path, monkeypatch) -> LoadedSpec:
    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", migrated_mlflow(tmp_path / 'mlflow.db'))
    loaded = load_spec(SPEC)
    spec = loaded.spec.model_copy(update={"scoring": ScoringSpec(output="predictions/esmm")})
    return LoadedSpec(spec=spec, path=loaded.path, sha256=loaded.sha256)


def test_no_partition_to_score_names_the_dataset(scoring_spec) -> None:
    with pytest.raises(DataReadError, match="ecommerce/impressions: no complete partition"):
        score_newest_partition(scoring_spec)


def test_no_champion_yet_scores_nothing_and_lands_nothing(scoring_spec, tmp_path) -> None:
    generate_demo_data(tmp_path / "data", date(2025, 3, 10), days=1, rows_per_day=50)
    assert score_newest_partition(scoring_spec) is None
    assert not (tmp_path / "data" / "predictions").exists()


def test_a_spec_without_scoring_is_refused(scoring_spec) -> None:
    loaded = LoadedSpec(spec=scoring_spec.spec.model_copy(update={"scoring": None}), path=scoring_spec.path,
                        sha256=scoring_spec.sha256)
    with pytest.raises(RetrainError, match="no scoring section"):
        score_newest_partition(loaded)
