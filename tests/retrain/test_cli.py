"""The registry commands on a segmented spec: one registered model per segment value, found from the spec's name
and the value as it is in the data (`--segment`), on a real MLflow store (SQLite)."""

from __future__ import annotations

import pytest
import yaml
from retrain.cli import main

from tests.support.arrival_stack import small_esmm_spec
from tests.support.mlflow_db import migrated_mlflow


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Spec ``stores`` trains one model per city; two cities have a registered model with a champion."""
    from mlflow import MlflowClient
    from retrain.tracking import registry

    specs = tmp_path / "specs"
    specs.mkdir()
    spec = small_esmm_spec("stores", segments={"column": "city"})
    (specs / "stores.yaml").write_text(yaml.safe_dump(spec))
    (specs / "plain.yaml").write_text(yaml.safe_dump(small_esmm_spec("plain")))
    uri = migrated_mlflow(tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("RETRAIN_SPECS_DIR", str(specs))
    monkeypatch.setenv("RETRAIN_LOCAL_STATE", str(tmp_path / "state"))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name in ("stores__Berlin", "stores__New_York-6a1b2c3d", "plain"):
        client.create_registered_model(name)
        client.create_model_version(name, source=(tmp_path / name).as_uri(), run_id=None)
        registry.move_champion(client, name, "1", expected_current=None, actor="test", reason="first")
    return client


def test_history_of_a_segment_is_found_by_the_spec_name_and_the_value_in_the_data(store, capsys):
    assert main(["history", "stores", "--segment", "Berlin"]) == 0
    assert "champion: - -> 1  by test  (first)" in capsys.readouterr().out
    assert main(["history", "plain"]) == 0  # a spec without segments: its name is its model


def test_a_segmented_spec_name_alone_lists_its_segment_models_and_says_how_to_pick_one(store, capsys):
    assert main(["history", "stores"]) == 2
    said = capsys.readouterr().err
    assert "'stores' trains one model per value of 'city'" in said, said
    assert "--segment VALUE" in said and "2 segment models" in said and "Berlin" in said, said
    assert main(["rollback", "stores", "--reason", "oops"]) == 2
    assert "--segment VALUE" in capsys.readouterr().err


def test_a_segment_without_a_model_or_a_spec_without_segments_is_named(store, capsys):
    assert main(["history", "stores", "--segment", "Paris"]) == 2
    said = capsys.readouterr().err
    assert "no model for segment 'Paris' of 'stores' (registered as 'stores__Paris')" in said, said
    assert main(["history", "plain", "--segment", "Berlin"]) == 2
    assert "'plain' has no segments" in capsys.readouterr().err


def test_a_segments_leaderboard_ranks_only_that_segments_runs(store, capsys, tmp_path):
    # its own artifact folder: MLflow's default, ./mlruns, is the working tree
    experiment = store.create_experiment("stores__segments", artifact_location=(tmp_path / "segments").as_uri())
    for segment, auc in (("Berlin", 0.71), ("Berlin", 0.74), ("Paris", 0.99)):
        run = store.create_run(experiment, tags={"retrain.run_kind": "train", "retrain.segment": segment,
                                                 "retrain.gate_decision": "promote"})
        store.log_metric(run.info.run_id, "ctr.roc_auc", auc)
        store.log_metric(run.info.run_id, "cost_usd", 0.01)
    assert main(["leaderboard", "stores", "--segment", "Berlin", "--metric", "ctr.roc_auc"]) == 0
    printed = capsys.readouterr()
    ranked = [line.split()[3] for line in printed.out.splitlines()[1:]]
    assert ranked == ["0.7400", "0.7100"], printed.out  # Paris's 0.99 is another model's
    assert "leaderboard/metric_vs_cost.png" in printed.err
    assert main(["leaderboard", "stores", "--metric", "ctr.roc_auc"]) == 2
    assert "--segment VALUE" in capsys.readouterr().err


def test_history_never_sends_control_characters_to_the_terminal(store, capsys):
    """A reason or actor is free text (an approver's note, a tag anyone with registry access can write): an
    escape sequence in it (clear the screen, rewrite the line) is shown, not executed by the terminal."""
    from retrain.tracking import registry

    store.create_model_version("plain", source="file:///tmp/plain2", run_id=None)
    registry.move_champion(store, "plain", "2", expected_current="1", actor="mallory\x1b[2K\r",
                           reason="fine\x1b[2J\x1b[1;1Hall clear\nsecond line\x07")
    assert main(["history", "plain"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "fine\\x1b[2J\\x1b[1;1Hall clear\\nsecond line\\x07" in out and "by mallory\\x1b[2K\\r" in out
    assert len([line for line in out.splitlines() if "->" in line]) == 2  # one line per move
