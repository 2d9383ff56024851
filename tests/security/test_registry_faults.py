"""The registry under faults: a stale promotion lock, careless rollbacks, alias moves made outside the
tool, and a training process killed outright. A real local MLflow store (SQLite) throughout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from retrain.tracking import registry
from retrain.tracking.lineage import file_sha256


def _client():
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    return mlflow_store.connect(get_settings())


def _model_with_versions(tmp_path: Path, name: str, count: int):
    """``count`` registered versions of ``name`` with real files and their recorded digests."""
    import mlflow

    client = _client()
    experiment = client.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    for index in range(count):
        folder = tmp_path / f"bundle-{index}"
        folder.mkdir()
        (folder / "weights.pt").write_bytes(b"\x00weights" + bytes([index]))
        (folder / "model_config.json").write_text("{}")
        sums = {p.name: file_sha256(p) for p in folder.iterdir()}
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(folder), "model")
        registry.register_challenger(client, name, run.info.run_id, f"{run.info.artifact_uri}/model",
                                     {registry.SHA_TAG: json.dumps(sums)})
    return client


def _plant_crashed_lock(client, name: str, lease_left_s: float = 300.0) -> None:
    """What a promoter killed inside the lock leaves behind."""
    client.create_registered_model(f"{name}{registry.LOCK_SUFFIX}",
                                   tags={"holder": "crashed-run:dead", "expires_at": str(time.time() + lease_left_s)})


# -- the promotion lock -------------------------------------------------------------------------------------

def test_a_stale_lock_fails_the_promotion_loudly_and_tags_agree(pipeline, monkeypatch):
    """Today a held lock turned a passed candidate into a silent rejection (green run, version tag
    ``reject``, run tag ``promote``). Now: the task fails with a retried error, the tags agree, and once
    the crashed holder's lease is over the retry promotes."""
    from airflow.sdk import RetryAction
    from retrain.orchestration.retries import RETRIES, retry_policy

    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    trained, evaluation, decision = pipeline.run("scheduled__2")
    client = pipeline.client()
    _plant_crashed_lock(client, pipeline.name)
    monkeypatch.setenv("RETRAIN_PROMOTION_LOCK_TIMEOUT_SECONDS", "1")

    with pytest.raises(Exception, match="crashed-run:dead") as failure:
        pipeline.promote(trained, evaluation, decision)
    assert type(failure.value).__name__ == "PromotionLockUnavailable"

    action = retry_policy().evaluate(exception=failure.value, try_number=1, max_tries=RETRIES)
    assert action.action == RetryAction.RETRY and "promotion lock" in action.reason
    assert str(client.get_model_version_by_alias(pipeline.name, "champion").version) == "1"
    version_tags = client.get_model_version(pipeline.name, "2").tags
    run_tags = client.get_run(trained["run_id"]).data.tags
    for key in ("retrain.gate_decision", "retrain.promotion"):
        assert version_tags[key] == run_tags[key], key
    assert run_tags["retrain.gate_decision"] == decision_verdict(decision)

    client.set_registered_model_tag(f"{pipeline.name}{registry.LOCK_SUFFIX}", "expires_at", str(time.time() - 1))
    outcome = pipeline.promote(trained, evaluation, decision)  # the retry, after the lease ran out
    assert outcome["promoted"] and str(client.get_model_version_by_alias(pipeline.name, "champion").version) == "2"
    assert client.get_model_version(pipeline.name, "2").tags["retrain.promotion"] == "promoted"
    assert client.get_run(trained["run_id"]).data.tags["retrain.promotion"] == "promoted"


def decision_verdict(decision: dict) -> str:
    return "promote" if decision["promote"] else "reject"


def test_releasing_an_expired_lock_never_deletes_the_next_holders_lock(store):
    client = _model_with_versions(store, "m", 1)
    lock = f"m{registry.LOCK_SUFFIX}"
    with registry.promotion_lock(client, "m", "slow-run", lease_s=0.5):
        time.sleep(1.0)  # the lease runs out while this holder still works
        client.delete_registered_model(lock)
        _plant_crashed_lock(client, "m")  # the next contender took it over
    assert client.get_registered_model(lock).tags["holder"] == "crashed-run:dead"


def test_a_lock_released_during_our_attempt_to_take_it_is_taken_not_an_error(store, monkeypatch):
    """The store's create meets the other holder's lock (IntegrityError), and that holder releases it before the
    store reads it back: MLflow answers "does not exist". That is contention; the promotion goes on."""
    client = _model_with_versions(store, "m", 1)
    lock = f"m{registry.LOCK_SUFFIX}"
    _plant_crashed_lock(client, "m")  # another holder's lock, within its lease
    backend = client._get_registry_client().store
    read_back = backend.get_registered_model

    def released_meanwhile(name):
        if name == lock and backend.get_registered_model is released_meanwhile:
            monkeypatch.setattr(backend, "get_registered_model", read_back)
            backend.delete_registered_model(lock)  # the other holder is done, right now
        return read_back(name)

    monkeypatch.setattr(backend, "get_registered_model", released_meanwhile)
    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"
    assert backend.get_registered_model is read_back  # the race did happen


# -- rollback -----------------------------------------------------------------------------------------------

def test_rollback_to_the_current_champion_changes_nothing(store, capsys):
    from retrain.cli import main

    client = _model_with_versions(store, "m", 2)
    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    registry.move_champion(client, "m", "2", expected_current="1", actor="t", reason="second")

    assert main(["rollback", "m", "--to", "2", "--reason", "oops"]) == 0
    assert "version 2 is already the champion; nothing changed" in capsys.readouterr().out
    assert str(client.get_model_version_by_alias("m", "previous-champion").version) == "1"
    assert [(m.from_version, m.to_version) for m in registry.history(client, "m")] == [(None, "1"), ("1", "2")]


def test_rollback_of_an_unknown_model_says_it_does_not_exist(store, capsys):
    from retrain.cli import main

    _model_with_versions(store, "m", 1)
    assert main(["rollback", "no_such_model", "--to", "1", "--reason", "typo"]) == 2
    assert "model 'no_such_model' does not exist" in capsys.readouterr().err
    names = [m.name for m in _client().search_registered_models()]
    assert names == ["m"]  # no lock model left behind either


def test_rollback_to_an_unknown_version_says_so(store, capsys):
    from retrain.cli import main

    client = _model_with_versions(store, "m", 1)
    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    assert main(["rollback", "m", "--to", "7", "--reason", "typo"]) == 2
    assert "m has no version 7" in capsys.readouterr().err
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"


# -- alias moves made outside the tool ---------------------------------------------------------------------

def test_alias_moves_made_outside_the_tool_appear_in_history(store, capsys):
    from retrain.cli import main

    client = _model_with_versions(store, "m", 3)
    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    client.set_registered_model_alias("m", "champion", "3")  # someone in the MLflow UI

    assert main(["history", "m"]) == 0
    out = capsys.readouterr().out
    assert "champion: 1 -> 3  by outside retrain" in out
    client.delete_registered_model_alias("m", "champion")  # and someone with the API
    registry.move_champion(client, "m", "2", expected_current=None, actor="run-2", reason="gated")
    moves = [(m.from_version, m.to_version, m.actor) for m in registry.history(client, "m")]
    assert moves == [(None, "1", "t"), ("1", "3", "outside retrain"), ("3", "none", "outside retrain"),
                     (None, "2", "run-2")]


def test_champion_moved_outside_after_gating_refuses_promotion_with_tags_that_agree(pipeline, slack):
    trained, evaluation, decision = pipeline.run("scheduled__1")
    pipeline.promote(trained, evaluation, decision)
    trained2, evaluation2, decision2 = pipeline.run("scheduled__2")
    trained3, evaluation3, _ = pipeline.run("scheduled__3")
    client = pipeline.client()
    client.set_registered_model_alias(pipeline.name, "champion", evaluation3["challenger_version"])  # outside

    outcome = pipeline.promote(trained2, evaluation2, {**decision2, "promote": True})

    assert not outcome["promoted"] and "champion moved to version 3" in outcome["reasons"][0]
    version_tags = client.get_model_version(pipeline.name, "2").tags
    run_tags = client.get_run(trained2["run_id"]).data.tags
    assert version_tags["retrain.gate_decision"] == run_tags["retrain.gate_decision"] == "reject"
    assert version_tags["retrain.promotion"] == run_tags["retrain.promotion"]
    assert any("moved outside retrain" in (m.text or "") for m in slack.messages)
    assert registry.history(client, pipeline.name)[-1].actor == "outside retrain"


# -- a training process killed outright --------------------------------------------------------------------

def test_next_run_marks_a_killed_training_run_and_removes_checkpoints_it_no_longer_needs(pipeline):
    """The state a SIGKILLed training leaves (tests/retrain/training/test_resume.py kills one for real):
    its MLflow run RUNNING and a checkpoint folder. Another model's live training is left alone."""
    import torch
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store
    from retrain.training.checkpoints import checkpoint_dir_for_run, save_checkpoint

    client = pipeline.client()
    spec = pipeline.loaded.spec
    exp_id = mlflow_store.experiment_id(client, get_settings(), spec.name)
    tags = {"airflow.dag_id": spec.dag_id, "retrain.model": spec.name}
    killed = client.create_run(exp_id, tags={**tags, "airflow.run_id": "scheduled__killed"}).info.run_id
    failed = client.create_run(exp_id, tags={**tags, "airflow.run_id": "scheduled__failed"}).info.run_id
    client.set_terminated(failed, "FAILED")  # retries used up, checkpoint left for a retry that never comes
    other_exp = mlflow_store.experiment_id(client, get_settings(), "another_model")
    other = client.create_run(other_exp, tags={"retrain.model": "another_model", "airflow.run_id": "x"}).info.run_id
    for run_id in (killed, failed, other):
        save_checkpoint(checkpoint_dir_for_run(run_id), {"epoch": 1, "w": torch.ones(1)})

    trained = pipeline.train("scheduled__next")

    assert client.get_run(killed).info.status == "KILLED"
    assert "scheduled__next" in client.get_run(killed).data.tags["retrain.orphaned"]
    assert client.get_run(failed).info.status == "FAILED"
    assert not checkpoint_dir_for_run(killed).exists() and not checkpoint_dir_for_run(failed).exists()
    assert client.get_run(other).info.status == "RUNNING" and checkpoint_dir_for_run(other).exists()
    assert client.get_run(trained["run_id"]).info.status == "FINISHED"
