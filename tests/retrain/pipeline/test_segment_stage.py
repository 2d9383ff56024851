"""Segment models on the single model's path: the seed, the cost record and shadow mode, per segment.

In-process chunk calls (``segment_stage.train_chunk``, what each mapped task runs) on a real SQLite MLflow store
with generated daily partitions."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from retrain.config import MetricBound, SegmentsSpec, ShadowSpec
from retrain.contracts import RunInfo
from retrain.pipeline import segment_stage

from tests.support.daily_runs import small_daily_model

FIRST = date(2026, 6, 1)

pytestmark = pytest.mark.slow


@pytest.fixture
def segmented(tmp_path, monkeypatch):
    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=5, window=3, rows=300)
    spec = loaded.spec.model_copy(update={"segments": SegmentsSpec(column="country", max_per_task=5)})
    return dataclasses.replace(loaded, spec=spec)


def _chunk(loaded, day: date, run_id: str, segments: list[str]) -> list[dict]:
    from retrain.pipeline.data_stages import check_freshness

    as_of = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    snapshot = check_freshness(loaded, as_of)
    return segment_stage.train_chunk(loaded, snapshot, segments, RunInfo(loaded.spec.dag_id, run_id, 1, as_of))


def _client():
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    return mlflow_store.connect(get_settings())


def _seeded(loaded, seed: int):
    return dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={
        "training": loaded.spec.training.model_copy(update={"seed": seed, "epochs": 2})}))


def test_the_seed_decides_a_segment_models_training(segmented):
    day = FIRST + timedelta(days=2)
    runs = {key: _chunk(_seeded(segmented, seed), day, f"manual__{key}", ["DE"])[0]
            for key, seed in (("a", 7), ("b", 7), ("c", 8))}
    client = _client()
    losses = {key: [m.value for m in client.get_metric_history(o["run_id"], "train_loss")] for key, o in runs.items()}
    assert len(losses["a"]) == 2
    assert losses["a"] == losses["b"]  # same seed, same data: the same model
    assert losses["a"] != losses["c"]  # another seed: another initialisation and batch order
    assert client.get_run(runs["c"]["run_id"]).data.params["seed"] == "8"


def test_segment_runs_record_their_cost_and_retrain_costs_shows_them(segmented, capsys):
    from retrain import cli

    outcomes = _chunk(segmented, FIRST + timedelta(days=2), "manual__1", ["DE", "FR"])
    client = _client()
    for outcome in outcomes:
        run = client.get_run(outcome["run_id"])
        metrics = run.data.metrics
        assert metrics["cost_usd"] > 0 and metrics["resources.cpu_seconds"] > 0
        assert metrics["resources.wall_seconds"] > 0 and metrics["resources.peak_memory_mb"] > 0
        assert metrics["resources.epochs"] == segmented.spec.training.epochs and metrics["resources.rows"] > 0
        assert run.data.tags["retrain.run_kind"] == "train" and run.data.tags["retrain.worker_queue"] == "default"
        assert outcome["cost_usd"] == pytest.approx(metrics["cost_usd"])

    assert cli.main(["costs", "--model", segmented.spec.name]) == 0
    out = capsys.readouterr().out
    total = next(line.split() for line in out.splitlines() if line.startswith(f"{segmented.spec.name} ")
                 and " total " in f" {line} ")
    assert total[2] == "2"  # both segment runs, counted as the spec's
    assert float(total[3]) == pytest.approx(sum(client.get_run(o["run_id"]).data.metrics["cost_usd"]
                                                for o in outcomes), abs=1e-4)


def test_a_segment_challenger_is_held_in_shadow_and_promoted_on_its_own_rows(segmented):
    import pyarrow.compute as pc
    from retrain.data.loading import read_table
    from retrain.tracking import mlflow_store, registry

    spec = segmented.spec
    lenient = {h: g.model_copy(update={"max_regression": {m: 1e6 for m in g.max_regression},
                                       "thresholds": {"r2" if h == "dwell" else "roc_auc": MetricBound(min=-1e6)}})
               for h, g in spec.gate.heads.items()}  # every candidate passes: the shadow then decides
    shadowed = dataclasses.replace(segmented, spec=spec.model_copy(update={
        "gate": spec.gate.model_copy(update={"heads": lenient, "shadow": ShadowSpec(partitions=1),
                                             "min_holdout_examples": 1})}))
    name = segment_stage.registered_name(spec, "DE")
    days = [FIRST + timedelta(days=2 + i) for i in range(3)]
    client = _client()

    first = _chunk(shadowed, days[0], "scheduled__1", ["DE"])[0]
    assert first["status"] == "promoted" and first["version"] == "1"  # no champion yet: nothing to shadow

    second = _chunk(shadowed, days[1], "scheduled__2", ["DE"])[0]
    assert second["status"] == "shadow" and second["version"] == "2", second
    assert any("held in shadow beside champion version 1" in r for r in second["reasons"])
    assert mlflow_store.champion_version(client, name).version == 1
    assert client.get_model_version_by_alias(name, "shadow").version == 2

    third = _chunk(shadowed, days[2], "scheduled__3", ["DE"])[0]
    assert third["status"] in {"shadow", "promoted", "rejected"}, third
    assert mlflow_store.champion_version(client, name).version == 2  # the shadow won on day 3 and is champion
    state = json.loads(client.get_model_version(name, "2").tags["retrain.shadow"])
    partition = f"dt={days[2]}"
    assert state["status"] == "won" and list(state["scores"]) == [partition]
    day_rows = read_table(_partition_files(shadowed, days[2]), columns=["country"])
    de_rows = pc.sum(pc.equal(day_rows.column("country"), "DE")).as_py()
    assert 0 < de_rows < day_rows.num_rows
    assert state["scores"][partition]["rows"] == de_rows  # scored on its own segment's rows, not the whole day
    reasons = [m.reason for m in registry.history(client, name)]
    assert any(r.startswith("shadow started") for r in reasons)
    assert any(r.startswith(f"won in shadow on {partition}") for r in reasons)


def _partition_files(loaded, day: date) -> list[str]:
    from retrain.settings import get_settings

    folder = get_settings().data_root / loaded.spec.data.location / f"dt={day}"
    return sorted(str(p) for p in folder.glob("*.parquet"))


def test_rows_without_a_segment_value_are_a_data_warning_every_segment_run_and_the_summary_carry(
        tmp_path, monkeypatch, capsys):
    """Rows whose segment column is null belong to no segment model; it was only in the task log."""
    from retrain.pipeline.data_stages import check_freshness, validate_data
    from retrain.pipeline.training_stage import data_warnings
    from retrain.run_once import print_segment_summary

    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=2, rows=300)
    loaded = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={
        "segments": SegmentsSpec(column="traffic_source", max_per_task=5)}))  # a few nulls a day in the demo data
    as_of = datetime.combine(FIRST + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    snapshot = check_freshness(loaded, as_of)
    validation = validate_data(loaded, snapshot)
    (warning,) = [w for w in validation["warnings"] if w["expectation"] == "retrain_segment_has_value"]
    assert warning["column"] == "traffic_source"
    assert "of 600 rows have no 'traffic_source' value (null or NaN): no segment model learns from them" in (
        warning["observed"])

    [outcome] = segment_stage.train_chunk(loaded, snapshot, ["email"], RunInfo(loaded.spec.dag_id, "manual__w", 1, as_of),
                                          data_warnings=data_warnings(validation))
    tag = _client().get_run(outcome["run_id"]).data.tags["retrain.data_warnings"]
    assert "retrain_segment_has_value on traffic_source" in tag
    assert print_segment_summary(loaded.spec.name, loaded.spec.dag_id, 0)
    assert "Data warning:  retrain_segment_has_value on traffic_source: " in capsys.readouterr().out


def test_a_listed_segment_without_rows_fails_naming_the_list_and_the_window(tmp_path, monkeypatch):
    """``segments.values: [.., monsoon]`` with no such row: the segment failed with "has only 0 rows", a
    ValueError that said neither where the value came from nor which days were read."""
    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=2, rows=300)
    loaded = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={
        "segments": SegmentsSpec(column="country", max_per_task=5, values=["DE", "ZZ"])}))
    [outcome] = _chunk(loaded, FIRST + timedelta(days=1), "manual__listed", ["ZZ"])
    assert outcome["status"] == "failed" and outcome["run_id"] is None
    assert outcome["error"] == (
        "DataReadError: segment 'ZZ' has no rows in the window (dt=2026-06-01..dt=2026-06-02), though segments.values "
        "lists it; a segment model needs at least 10")


def test_segment_values_written_as_numbers_select_the_rows_of_an_integer_column(tmp_path, monkeypatch):
    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=2, window=2, rows=300)
    loaded = dataclasses.replace(loaded, spec=loaded.spec.model_validate({
        **loaded.spec.model_dump(), "scoring": None,
        "segments": {"column": "hour_of_day", "max_per_task": 5, "values": [20]}}))
    [outcome] = _chunk(loaded, FIRST + timedelta(days=1), "manual__numbers", loaded.spec.segments.values)
    assert outcome["segment"] == "20" and outcome["status"] in {"promoted", "rejected"}, outcome.get("error")
