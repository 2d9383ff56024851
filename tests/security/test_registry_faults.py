"""The registry under faults that need a real local MLflow store (SQLite): a stale promotion lock met by a
whole pipeline, the store's own create race, a champion moved outside the tool after gating, and a training
process killed outright. The registry's logic on its own (lock, rollback, history, outside moves) is tested on
the in-memory registry in tests/retrain/tracking/test_registry.py."""

from __future__ import annotations

import time

import pytest
from retrain.tracking import registry


def _client():
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    return mlflow_store.connect(get_settings())


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


def test_a_lock_released_during_our_attempt_to_take_it_is_taken_not_an_error(store, monkeypatch):
    """The store's create meets the other holder's lock (IntegrityError), and that holder releases it before the
    store reads it back: MLflow answers "does not exist". That is contention; the promotion goes on."""
    client = _client()
    client.create_registered_model("m")
    client.create_model_version("m", source=(store / "nowhere").as_uri())
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


# -- alias moves made outside the tool ---------------------------------------------------------------------

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
