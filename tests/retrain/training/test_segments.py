"""Segment models: chunking within max_map_length, the mapped DAG, and a chunk where one segment fails."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from retrain.config import SegmentsSpec, load_spec
from retrain.contracts import RunInfo
from retrain.pipeline import segment_stage

from tests.support.mlflow_db import migrated_mlflow

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml"


def _loaded(**segments):
    loaded = load_spec(SPEC)
    spec = loaded.spec
    spec = spec.model_copy(update={
        "segments": SegmentsSpec(column="country", **segments),
        "training": spec.training.model_copy(update={"epochs": 1, "device": "cpu"}),
    })
    return dataclasses.replace(loaded, spec=spec)


def test_chunks_respect_max_map_length():
    segments = [f"s{i}" for i in range(5000)]
    chunks = segment_stage.chunk(segments, max_per_task=1)
    assert len(chunks) <= 1024 and sum(chunks, []) == segments
    assert [len(c) for c in segment_stage.chunk(segments[:120], max_per_task=50)] == [50, 50, 20]
    assert segment_stage.chunk([], 50) == []


def test_registered_names_are_safe_and_never_shared():
    import re

    spec = _loaded().spec
    assert segment_stage.registered_name(spec, "DE") == "ecommerce_dwell_time__DE"  # a clean value is kept
    assert segment_stage.registered_name(spec, "store 7/a").startswith("ecommerce_dwell_time__store_7_a-")
    values = ["store 7/a", "store_7_a", "store 7_a", "北京", "上海", "Zürich", "Zarich", "Z_rich"]
    names = {segment_stage.registered_name(spec, v) for v in values}
    assert len(names) == len(values)  # two segments never share a registered model, so never a champion
    assert all(re.fullmatch(r"ecommerce_dwell_time__[A-Za-z0-9_.-]+", n) for n in names)


@pytest.mark.parametrize(("values", "segments"), [
    ([1.0, 2.0, None, 1.0], ["1", "2"]),  # an integer code that pandas wrote as double on a day with nulls
    ([1.0, float("nan"), 2.0, 1.0], ["1", "2"]),  # pandas' NaN is a missing key, as null is: no 'nan' model
    ([True, False, True, True], ["false", "true"]),
    ([3, 3, 4, 4], ["3", "4"]),
])
def test_segments_are_named_the_way_their_rows_are_selected(tmp_path, values, segments):
    import pyarrow as pa
    from retrain.data.freshness import DataSnapshot
    from retrain.data.landing import write_partition
    from retrain.data.loading import read_table, segment_keys

    folder = write_partition(pa.table({"store": values, "y": [1.0, 2.0, 3.0, 4.0]}), tmp_path, date(2005, 9, 1))
    files = [str(folder / "part-00000.parquet")]
    snapshot = DataSnapshot(dataset=str(tmp_path), as_of="2005-09-02T00:00:00+00:00", partitions=[str(folder)],
                            files=files, newest_partition="2005-09-01", newest_rows=4, total_rows=4, fingerprint="x")
    loaded = _loaded()
    spec = loaded.spec.model_copy(update={"segments": SegmentsSpec(column="store")})
    assert segment_stage.segment_values(spec, snapshot) == segments
    keys = segment_keys(read_table(files).column("store")).to_pylist()
    assert all(sum(k == s for k in keys) > 0 for s in segments)  # every planned segment selects its rows


def test_a_planned_segment_without_an_outcome_is_a_failed_one():
    trained = [[{"segment": "DE", "status": "promoted"}], [{"segment": "FR", "status": "rejected"}]]
    assert segment_stage.report([segment_stage.with_unfinished(trained, [["DE"], ["FR"]])])["promoted"] == 1
    # the chunk task that held US and JP crashed: its outcomes never reached report
    flat = segment_stage.with_unfinished(trained, [["DE"], ["FR"], ["US", "JP"]])
    assert [o["segment"] for o in flat if o["status"] == "failed"] == ["US", "JP"]  # the digest names them
    with pytest.raises(segment_stage.SegmentFailures, match=r"2 of 4 segments failed: US: not trained: its chunk "
                                                           r"task did not finish; JP: not trained"):
        segment_stage.report([flat])


def test_segment_dag_fans_out_over_chunks():
    from retrain.orchestration.segments import build_segment_dag

    dag = build_segment_dag(_loaded(max_per_task=3))
    assert dag.max_active_tasks >= 2 and "segments" in dag.tags
    chunk_task = dag.get_task("train_chunk")
    assert type(chunk_task).__name__.endswith("MappedOperator")
    assert dag.get_task("report").trigger_rule == "all_done"
    assert [t.task_id for t in dag.tasks if getattr(t, "multiple_outputs", False)] == []  # one XCom per result
    assert sorted(t.task_id for t in dag.get_task("plan_chunks").upstream_list) == ["check_freshness", "validate_data"]


def test_segment_promotions_move_the_models_champion_asset():
    """The scoring DAG of a segment spec is scheduled on ``mlflow-model://<name>``: a segment champion that moves
    must emit that event, as a single model's promotion does, or new champions score nothing until new data."""
    from collections import defaultdict
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowSkipException
    from retrain.assets import model_asset
    from retrain.orchestration.champion_asset import announce_segments
    from retrain.orchestration.segments import build_segment_dag

    loaded = _loaded(max_per_task=3)
    task = build_segment_dag(loaded).get_task("announce_champions")
    assert [a.uri for a in task.outlets] == [model_asset(loaded.spec.name).uri]
    assert task.trigger_rule == "all_done"  # a chunk that crashed must not hide the others' promotions
    assert [t.task_id for t in task.upstream_list] == ["train_chunk"]

    name = loaded.spec.name
    chunks = [[{"segment": "DE", "status": "promoted", "version": "3", "run_id": "r1"},
               {"segment": "FR", "status": "rejected", "version": "2", "run_id": "r2"}],
              None,  # a chunk task that crashed
              [{"segment": "US", "status": "promoted", "version": "1", "run_id": "r3"},
               {"segment": "XX", "status": "failed", "version": None, "run_id": None}]]
    context = {"outlet_events": defaultdict(SimpleNamespace)}
    extra = announce_segments(context, name, chunks)
    assert context["outlet_events"][model_asset(name)].extra == extra
    assert extra["model"] == name and extra["reason"] == "promotion" and extra["promoted"] == 2
    assert extra["segments"] == {"DE": "3", "US": "1"}
    for nothing_moved in ([[{"segment": "FR", "status": "rejected", "version": "2"}]], [None], []):
        with pytest.raises(AirflowSkipException, match="no segment champion moved"):
            announce_segments({"outlet_events": defaultdict(SimpleNamespace)}, name, nothing_moved)

    many = [[{"segment": f"s{i:04d}", "status": "promoted", "version": "1"} for i in range(5000)]]
    extra = announce_segments({"outlet_events": defaultdict(SimpleNamespace)}, name, many)
    assert extra["promoted"] == 5000 and len(extra["segments"]) == 100  # the event stays small
    long = [[{"segment": "x" * 5000, "status": "promoted", "version": "1"}]]
    assert list(announce_segments({"outlet_events": defaultdict(SimpleNamespace)}, name, long)["segments"]) == ["x" * 200]


def _store_with_data(tmp_path, monkeypatch):
    from retrain.pipeline.data_stages import check_freshness
    from retrain_demo.data import generate_demo_data

    monkeypatch.setenv("RETRAIN_DATA_ROOT", str(tmp_path / "data"))
    uri = migrated_mlflow(tmp_path / 'mlflow.db')
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    generate_demo_data(tmp_path / "data", date(2026, 3, 7), days=2, rows_per_day=1500)
    as_of = datetime(2026, 3, 8, tzinfo=UTC)
    return uri, check_freshness(_loaded(), as_of), as_of


@pytest.mark.slow
def test_one_failing_segment_does_not_stop_the_others(tmp_path, monkeypatch):
    import mlflow

    uri, snapshot, as_of = _store_with_data(tmp_path, monkeypatch)
    loaded = _loaded(max_per_task=2)
    chunks = segment_stage.plan_chunks(loaded, snapshot)
    assert sum(chunks, []) == ["BR", "DE", "FR", "GB", "IN", "JP", "US"] and max(map(len, chunks)) == 2

    run = RunInfo(loaded.spec.dag_id, "manual__1", 1, as_of)
    outcomes = segment_stage.train_chunk(loaded, snapshot, ["DE", "XX", "US"], run)
    by_segment = {o["segment"]: o for o in outcomes}
    assert by_segment["XX"]["status"] == "failed" and "segment 'XX' has no rows in the window" in by_segment["XX"]["error"]
    for segment in ("DE", "US"):
        assert by_segment[segment]["status"] in {"promoted", "rejected"} and by_segment[segment]["version"] == "1"
    with pytest.raises(segment_stage.SegmentFailures, match="1 of 3 segments failed: XX"):
        segment_stage.report([outcomes])

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    # a retry of the chunk in the same Airflow run creates no new runs or versions
    again = segment_stage.train_chunk(loaded, snapshot, ["DE", "US"], run)
    assert [o["run_id"] for o in again] == [by_segment["DE"]["run_id"], by_segment["US"]["run_id"]]
    assert len(client.search_model_versions("name = 'ecommerce_dwell_time__DE'")) == 1
    # the next Airflow run registers version 2 and is gated against the champion when there is one
    later = segment_stage.train_chunk(loaded, snapshot, ["DE"], RunInfo(run.dag_id, "manual__2", 1, as_of))
    assert later[0]["version"] == "2"
    run_tags = client.get_run(later[0]["run_id"]).data.tags
    assert run_tags["retrain.segment"] == "DE" and "retrain.gate_decision" in run_tags
    assert segment_stage.report([again])["promoted"] + segment_stage.report([again])["rejected"] == 2


@pytest.mark.slow
def test_segment_promotion_is_recorded_and_refused_on_a_tampered_artifact(tmp_path, monkeypatch, capsys):
    """A segment model goes through the single model's promotion: servable, in the history, artifact checked."""
    from urllib.parse import urlparse

    import mlflow
    import pandas as pd
    from retrain import cli
    from retrain.config import GateSpec
    from retrain.pipeline import gating_stage
    from retrain.tracking import registry

    uri, snapshot, as_of = _store_with_data(tmp_path, monkeypatch)
    loaded = _loaded(max_per_task=2)
    loaded = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"gate": GateSpec()}))  # no bars
    name = "ecommerce_dwell_time__DE"
    first = segment_stage.train_chunk(loaded, snapshot, ["DE"], RunInfo(loaded.spec.dag_id, "manual__1", 1, as_of))
    assert first[0]["status"] == "promoted", first
    served = mlflow.pyfunc.load_model(f"models:/{name}@champion")  # servable like a single model
    frame = pd.read_parquet(snapshot["files"][0], columns=loaded.spec.features.columns).head(5)
    assert sorted(served.predict(frame).columns) == sorted(h.name for h in loaded.spec.heads)
    assert cli.main(["history", name]) == 0
    assert "champion: - -> 1  by airflow:retrain_ecommerce_dwell_time/manual__1" in capsys.readouterr().out

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    real_gate = gating_stage.gate

    def gate_then_tamper(segment_loaded, evaluation, trained):  # the file changes between training and promotion
        decision = real_gate(segment_loaded, evaluation, trained)
        source = client.get_model_version(name, evaluation["challenger_version"]).source
        location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
        next(Path(urlparse(location).path).rglob("weights.pt")).write_bytes(b"tampered")
        return decision

    monkeypatch.setattr(gating_stage, "gate", gate_then_tamper)
    # an edited spec file: a candidate identical to the champion would be rejected before promotion is tried
    edited = dataclasses.replace(loaded, sha256="0" * 64)
    second = segment_stage.train_chunk(edited, snapshot, ["DE"], RunInfo(loaded.spec.dag_id, "manual__2", 1, as_of))
    assert second[0]["status"] == "failed" and "artifacts changed since training" in second[0]["error"]
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert [m.to_version for m in registry.history(client, name)] == ["1"]

    # `retrain rollback` of a segment model announces on the spec's Asset, the one its scoring DAG listens on
    from retrain.orchestration.champion_asset import rollback_event

    run_tags = client.get_run(first[0]["run_id"]).data.tags
    asset_model, extra = rollback_event(name, "1", "2", first[0]["run_id"], run_tags)
    assert asset_model == "ecommerce_dwell_time" and extra["segments"] == {"DE": "1"}
    assert extra["reason"] == "rollback" and extra["model_uri"] == f"models:/{name}/1"
    assert rollback_event("churn", "4", "5", "r", {"retrain.model": "churn"})[0] == "churn"  # a single model


def test_segment_dag_has_the_trigger_form_without_approval():
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError
    from retrain.orchestration.dag_factory import build_dag
    from retrain.orchestration.segments import build_segment_dag

    loaded = _loaded(max_per_task=3)
    form = build_segment_dag(loaded).params
    single = build_dag(dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"segments": None}))).params
    assert set(form) == set(single)  # as_of, promote, retrain_seen_data, the overrides, the const fields
    assert form.get_param("as_of").schema["format"] == "date"
    assert form.get_param("slack_channel").schema["const"] == loaded.spec.alerts.slack_channel
    assert form.get_param("promote").schema["enum"] == ["auto", "never"]  # no approval step per segment

    def validated(conf):
        params = ParamsDict({k: form.get_param(k) for k in form})
        params.update(conf)
        return params.validate()

    assert validated({"as_of": "2013-06-10", "promote": "never", "epochs": 2})["epochs"] == 2
    for bad in ({"promote": "approval"}, {"epochs": 0}, {"slack_channel": "#elsewhere"}):
        with pytest.raises(ParamValidationError):
            validated(bad)


def test_a_segment_column_without_values_plans_nothing_and_says_so(tmp_path):
    import pyarrow as pa
    from retrain.data.freshness import DataSnapshot
    from retrain.data.landing import write_partition
    from retrain.errors import DataReadError

    folder = write_partition(pa.table({"store": pa.array([None, None], pa.string())}), tmp_path, date(2005, 9, 1))
    snapshot = DataSnapshot(dataset=str(tmp_path), as_of="2005-09-02T00:00:00+00:00", partitions=[str(folder)],
                            files=[str(folder / "part-00000.parquet")], newest_partition="2005-09-01", newest_rows=2,
                            total_rows=2, fingerprint="x")
    loaded = _loaded()
    loaded = dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"segments": SegmentsSpec(column="store")}))
    with pytest.raises(DataReadError, match="the segment column 'store' holds no value, so there is no segment"):
        segment_stage.plan_chunks(loaded, snapshot.to_dict())
