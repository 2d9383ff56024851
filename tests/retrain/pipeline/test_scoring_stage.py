"""Batch scoring before there is anything to score with, or anything to score."""

from __future__ import annotations

from datetime import date

import pytest
from retrain.config import LoadedSpec, ScoringSpec, load_spec
from retrain.errors import DataReadError, RetrainError
from retrain.pipeline.scoring_stage import score_newest_partition
from retrain_demo.data import generate_demo_data

from tests.retrain.orchestration.helpers import SPEC
from tests.support.mlflow_db import isolated_product_state, migrated_mlflow


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


def test_no_champion_yet_scores_nothing_and_lands_nothing(scoring_spec, tmp_path, monkeypatch, capsys) -> None:
    import yaml
    from retrain.cli import main

    generate_demo_data(tmp_path / "data", date(2025, 3, 10), days=1, rows_per_day=50)
    assert score_newest_partition(scoring_spec) is None
    assert not (tmp_path / "data" / "predictions").exists()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "esmm.yaml").write_text(yaml.safe_dump(scoring_spec.spec.model_dump(mode="json")))
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(tmp_path / "specs"))
    assert main(["score", scoring_spec.spec.name]) == 3  # as `retrain run` says a run that did nothing
    assert "Scored NOTHING: ecommerce_esmm has no champion yet" in capsys.readouterr().out


def test_a_spec_without_scoring_is_refused(scoring_spec) -> None:
    loaded = LoadedSpec(spec=scoring_spec.spec.model_copy(update={"scoring": None}), path=scoring_spec.path,
                        sha256=scoring_spec.sha256)
    with pytest.raises(RetrainError, match="no scoring section"):
        score_newest_partition(loaded)


# --- The scored partition keeps the contract the champion was trained under ----------------------------------

@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """One promoted one-epoch champion of the dwell-time demo model, shared by the scoring-contract tests."""
    import dataclasses

    from tests.security.conftest import AS_OF, END, Pipeline
    from tests.security.conftest import SPEC as DWELL_SPEC

    tmp = tmp_path_factory.mktemp("scoring")
    with pytest.MonkeyPatch.context() as env:
        isolated_product_state(tmp, env)
        from retrain.config import GateSpec
        from retrain.pipeline.data_stages import check_freshness

        generate_demo_data(tmp / "data", END, days=2, rows_per_day=1000)
        loaded = load_spec(DWELL_SPEC)
        spec = loaded.spec.model_copy(update={
            "gate": GateSpec(), "scoring": ScoringSpec(output="predictions/dwell", passthrough_columns=["event_id"]),
            "training": loaded.spec.training.model_copy(update={"epochs": 1, "device": "cpu"})})
        loaded = dataclasses.replace(loaded, spec=spec)
        pipeline = Pipeline(loaded=loaded, snapshot=check_freshness(loaded, AS_OF), tmp=tmp)
        trained, evaluation, decision = pipeline.run("scheduled__1")
        pipeline.promote(trained, evaluation, decision)
        yield pipeline, env


def _land_next_day(pipeline, change) -> tuple[str, object]:
    """The newest demo partition, changed by ``change(frame)``, landed as the next day; returns its folder name."""
    import shutil
    from datetime import timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq
    from retrain.data.landing import write_partition

    from tests.security.conftest import END

    dataset = pipeline.tmp / "data" / pipeline.loaded.spec.data.location
    day = END + timedelta(days=1)
    shutil.rmtree(dataset / f"dt={day}", ignore_errors=True)
    shutil.rmtree(pipeline.tmp / "data" / "predictions", ignore_errors=True)
    frame = change(pq.read_table(dataset / f"dt={END}").to_pandas())
    write_partition(pa.Table.from_pandas(frame, preserve_index=False), dataset, day)
    return f"dt={day}", pipeline.tmp / "data" / "predictions" / "dwell" / f"dt={day}"


def test_a_scored_partition_that_breaks_its_contract_lands_no_predictions(champion) -> None:
    """Prices a thousand times too large are scored by the champion as if real: the suite's range check on a
    feature now blocks scoring, naming the partition, the column and the check; nothing lands."""
    from retrain.errors import DataContractError

    pipeline, _ = champion

    def prices_in_cents(frame):
        frame["price"] = frame["price"] * 1000 + 100_000
        return frame

    day, predictions = _land_next_day(pipeline, prices_in_cents)
    with pytest.raises(DataContractError, match=rf"{day}: expect_column_values_to_be_between on column 'price'") as caught:
        score_newest_partition(pipeline.loaded)
    assert "ecommerce/impressions" in str(caught.value)
    assert not predictions.exists()


def test_unlabeled_rows_are_scored_the_label_checks_are_not_applied(champion) -> None:
    """Rows to score usually have no label yet: the suite's expectations on label columns (not null, 0/1,
    click >= add_to_cart) are not a reason to refuse them; every row gets a prediction."""
    import pyarrow.parquet as pq

    pipeline, _ = champion

    def labels_not_landed(frame):
        frame["dwell_seconds"] = float("nan")
        frame["click"] = None
        return frame

    _, predictions = _land_next_day(pipeline, labels_not_landed)
    landed = score_newest_partition(pipeline.loaded)
    scored = pq.read_table(predictions).to_pandas()
    assert landed["rows"] == len(scored) == 1000
    assert scored["dwell_prediction"].notna().all() and scored["event_id"].is_unique


def test_a_feature_held_as_text_is_refused_naming_the_partition_and_column(champion) -> None:
    pipeline, _ = champion

    def rating_as_text(frame):
        frame["item_rating"] = frame["item_rating"].astype(str)
        frame.loc[5, "item_rating"] = "n/a"
        return frame

    day, predictions = _land_next_day(pipeline, rating_as_text)
    with pytest.raises(RetrainError, match=rf"ecommerce/impressions {day}.*'item_rating'.*'n/a'"):
        score_newest_partition(pipeline.loaded)
    assert not predictions.exists()


def test_a_categorical_held_as_a_list_is_refused_naming_the_partition_and_column(champion) -> None:
    pipeline, _ = champion

    def device_as_a_list(frame):
        frame["device"] = [[d] for d in frame["device"]]
        return frame

    day, predictions = _land_next_day(pipeline, device_as_a_list)
    with pytest.raises(RetrainError, match=rf"ecommerce/impressions {day}.*retrain_categorical_values on column "
                                           r"'device'.*not categories"):
        score_newest_partition(pipeline.loaded)
    assert not predictions.exists()


def test_an_empty_partition_is_refused_by_name(champion) -> None:
    pipeline, _ = champion
    day, predictions = _land_next_day(pipeline, lambda frame: frame.iloc[:0])
    with pytest.raises(DataReadError, match=rf"ecommerce/impressions/{day}: the partition has no rows"):
        score_newest_partition(pipeline.loaded)
    assert not predictions.exists()


def test_a_warning_of_the_contract_does_not_stop_scoring(champion) -> None:
    pipeline, _ = champion

    def new_country(frame):
        frame.loc[: len(frame) // 2, "country"] = "NZ"  # the suite's country set is severity: warn
        return frame

    _, predictions = _land_next_day(pipeline, new_country)
    assert score_newest_partition(pipeline.loaded)["rows"] == 1000
    assert predictions.exists()


def test_a_partition_larger_than_a_worker_reads_is_not_scored(champion, monkeypatch) -> None:
    pipeline, _ = champion
    day, predictions = _land_next_day(pipeline, lambda frame: frame)
    monkeypatch.setenv("RETRAIN_MAX_WINDOW_ROWS", "999")
    with pytest.raises(DataReadError, match=rf"the partition to score {day} holds 1,000 rows, more than "
                                            r"RETRAIN_MAX_WINDOW_ROWS=999"):
        score_newest_partition(pipeline.loaded)
    assert not predictions.exists()


def test_retrain_score_scores_from_the_terminal_what_the_dag_would(champion, tmp_path, monkeypatch, capsys) -> None:
    """A new user's way to see predictions without Airflow running: ``retrain score <model>``."""
    import yaml
    from retrain.cli import main

    pipeline, _ = champion
    day, predictions = _land_next_day(pipeline, lambda frame: frame)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "dwell.yaml").write_text(yaml.safe_dump(pipeline.loaded.spec.model_dump(mode="json")))
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(specs))

    assert main(["score", pipeline.loaded.spec.name]) == 0
    out = capsys.readouterr().out
    assert f"{day} (1,000 rows) with ecommerce_dwell_time version 1" in out
    assert f"Predictions: {predictions}" in out and predictions.exists()
    assert main(["score", "no_such_model"]) == 2
    assert "no spec in" in capsys.readouterr().err


def test_a_segment_spec_scores_each_row_with_its_own_segments_champion(champion) -> None:
    """A segment spec's models are ``<name>__<value>``; its scoring DAG looked for a champion named ``<name>``,
    found none and skipped every run, green, having scored nothing. Each row now gets its segment's champion
    (verified like any champion); rows of a segment without one land with null predictions, counted."""
    import dataclasses

    import pyarrow.parquet as pq
    from retrain.config import SegmentsSpec
    from retrain.contracts import RunInfo
    from retrain.pipeline import segment_stage

    from tests.security.conftest import AS_OF

    pipeline, _ = champion
    loaded = dataclasses.replace(pipeline.loaded, spec=pipeline.loaded.spec.model_copy(update={
        "segments": SegmentsSpec(column="country", max_per_task=2)}))
    run = RunInfo(loaded.spec.dag_id, "scheduled__segments", 1, AS_OF)
    trained = segment_stage.train_chunk(loaded, pipeline.snapshot, ["DE", "US"], run)
    assert [o["status"] for o in trained] == ["promoted", "promoted"], trained
    day, predictions = _land_next_day(pipeline, lambda frame: frame)

    landed = score_newest_partition(loaded)

    scored = pq.read_table(predictions).to_pandas()
    assert landed["rows"] == len(scored) == 1000 and landed["segments_scored"] == 2
    mine = scored["country"].isin(["DE", "US"])
    assert scored.loc[mine, "dwell_prediction"].notna().all() and scored.loc[mine, "champion_version"].eq("1").all()
    assert scored.loc[~mine, "dwell_prediction"].isna().all() and scored.loc[~mine, "champion_version"].isna().all()
    assert landed["rows_unscored"] == int((~mine).sum()) > 0
