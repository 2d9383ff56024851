"""Registry logic on the in-memory registry (tests/support/memory_registry.py): registration per run, the
promotion lock and its lease, check-and-set champion moves, the history, moves made outside the tool,
rollback targets. What needs a real store stays on one: artifact digests (test_registry_local.py), the
store's unique-constraint race (tests/security/test_registry_faults.py), a server under concurrent
promotions (tests/integration/test_registry_concurrency.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from retrain.errors import ArtifactIntegrityError, RetrainError
from retrain.tracking import mlflow_store, registry

from tests.support.memory_registry import MemoryRegistry


@pytest.fixture
def client(monkeypatch) -> MemoryRegistry:
    """A registry with model ``m`` of three versions; the CLI's client is this one too."""
    fake = MemoryRegistry()
    fake.create_registered_model("m")
    for index in (1, 2, 3):
        fake.create_model_version("m", source=f"file:///nowhere/{index}", run_id=f"run-{index}")
    monkeypatch.setattr(mlflow_store, "connect", lambda settings: fake)
    return fake


@pytest.fixture
def verified(monkeypatch) -> list[str]:
    """Versions whose artifacts rollback verified (files need a real store: test_registry_local.py)."""
    checked: list[str] = []
    monkeypatch.setattr(registry, "verify_artifacts", lambda client, name, version: checked.append(version) or {})
    return checked


def _champion(client, alias: str = "champion") -> str:
    return str(client.get_model_version_by_alias("m", alias).version)


def _plant_crashed_lock(client, name: str = "m", lease_left_s: float = 300.0) -> None:
    """What a promoter killed inside the lock leaves behind."""
    client.create_registered_model(f"{name}{registry.LOCK_SUFFIX}",
                                   tags={"holder": "crashed-run:dead", "expires_at": str(time.time() + lease_left_s)})


# -- registration -------------------------------------------------------------------------------------------

def test_registration_is_idempotent_per_run():
    fake = MemoryRegistry()
    first = registry.register_challenger(fake, "n", "run-a", "file:///nowhere/model", {"k": "1"})
    again = registry.register_challenger(fake, "n", "run-a", "file:///nowhere/model", {"k": "2"})  # a retry
    assert first == again == "1"
    assert len(fake.search_model_versions("name = 'n'")) == 1
    assert fake.get_model_version("n", "1").tags == {"k": "2"}
    assert str(fake.get_model_version_by_alias("n", "challenger").version) == "1"
    assert registry.register_challenger(fake, "n", "run-b", "file:///nowhere/model-b", {}) == "2"


# -- the promotion lock -------------------------------------------------------------------------------------

def test_promotions_wait_for_the_lock_and_only_one_of_those_gated_against_the_same_champion_wins(client):
    registry.move_champion(client, "m", "1", expected_current=None, actor="setup", reason="first")

    def promote(version: str) -> registry.AliasMove:
        return registry.move_champion(client, "m", version, expected_current="1", actor=f"run-{version}",
                                      reason="beat version 1")

    with ThreadPoolExecutor(max_workers=2) as pool:
        with registry.promotion_lock(client, "m", "another-run"):
            futures = [pool.submit(promote, version) for version in ("2", "3")]
            time.sleep(0.3)
            assert not any(f.done() for f in futures) and _champion(client) == "1"  # both wait for the lock
        outcomes = [f.exception() or f.result() for f in futures]

    won = [o for o in outcomes if isinstance(o, registry.AliasMove)]
    refused = [o for o in outcomes if isinstance(o, registry.PromotionConflict)]
    assert len(won) == len(refused) == 1, outcomes
    assert "champion moved to version" in str(refused[0])
    assert (_champion(client), _champion(client, "previous-champion")) == (won[0].to_version, "1")
    assert [(m.from_version, m.to_version, m.actor) for m in registry.history(client, "m")] == [
        (None, "1", "setup"), ("1", won[0].to_version, f"run-{won[0].to_version}")]
    assert not client.search_registered_models(f"name = 'm{registry.LOCK_SUFFIX}'")  # released


def test_a_held_lock_makes_the_promotion_wait_then_fail_naming_the_holder(client, monkeypatch):
    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    _plant_crashed_lock(client)
    monkeypatch.setenv("RETRAIN_PROMOTION_LOCK_TIMEOUT_SECONDS", "0.3")
    with pytest.raises(registry.PromotionLockUnavailable, match="crashed-run:dead.*champion is unchanged"):
        registry.move_champion(client, "m", "2", expected_current="1", actor="run-2", reason="better")
    assert _champion(client) == "1"
    assert client.get_registered_model(f"m{registry.LOCK_SUFFIX}").tags["holder"] == "crashed-run:dead"


def test_a_lock_past_its_lease_is_taken_over(client):
    _plant_crashed_lock(client, lease_left_s=-1)
    move = registry.move_champion(client, "m", "2", expected_current=None, actor="x", reason="after crash")
    assert move.to_version == "2" and _champion(client) == "2"
    assert not client.search_registered_models(f"name = 'm{registry.LOCK_SUFFIX}'")


def test_releasing_an_expired_lock_never_deletes_the_next_holders_lock(client):
    lock = f"m{registry.LOCK_SUFFIX}"
    with registry.promotion_lock(client, "m", "slow-run", lease_s=0.05):
        time.sleep(0.1)  # the lease runs out while this holder still works
        client.delete_registered_model(lock)
        _plant_crashed_lock(client)  # the next contender took it over
    assert client.get_registered_model(lock).tags["holder"] == "crashed-run:dead"


# -- check-and-set and the history --------------------------------------------------------------------------

def test_a_champion_moved_since_gating_refuses_the_promotion(client):
    registry.move_champion(client, "m", "1", expected_current=None, actor="run-1", reason="first")
    registry.move_champion(client, "m", "2", expected_current="1", actor="run-2", reason="better")
    with pytest.raises(registry.PromotionConflict, match="champion moved to version 2 .* compared with version 1"):
        registry.move_champion(client, "m", "3", expected_current="1", actor="run-3", reason="gated against 1")
    assert (_champion(client), _champion(client, "previous-champion")) == ("2", "1")
    assert [(m.from_version, m.to_version, m.actor, m.reason) for m in registry.history(client, "m")] == [
        (None, "1", "run-1", "first"), ("1", "2", "run-2", "better")]


def test_history_keeps_the_order_and_a_shadow_event_is_no_outside_move(client):
    registry.move_champion(client, "m", "1", expected_current=None, actor="a", reason="first")
    registry.record(client, "m", registry.AliasMove("shadow", "1", "2", "b", "shadow started", "t"))
    assert registry.outside_move(client, "m") is None  # the champion is still where the last champion move put it
    registry.move_champion(client, "m", "2", expected_current="1", actor="c", reason="shadow won")
    assert [(m.alias, m.to_version, m.actor) for m in registry.history(client, "m")] == [
        ("champion", "1", "a"), ("shadow", "2", "b"), ("champion", "2", "c")]
    assert sorted(client.get_registered_model("m").tags) == [f"{registry.HISTORY_PREFIX}{n:06d}" for n in (1, 2, 3)]


# -- alias moves made outside the tool ---------------------------------------------------------------------

def test_alias_moves_made_outside_the_tool_appear_in_history(client, capsys):
    from retrain.cli import main

    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    assert registry.outside_move(client, "m") is None
    client.set_registered_model_alias("m", "champion", "3")  # someone in the MLflow UI

    assert main(["history", "m"]) == 0
    out = capsys.readouterr().out
    assert "champion: 1 -> 3  by outside retrain" in out
    client.delete_registered_model_alias("m", "champion")  # and someone with the API
    registry.move_champion(client, "m", "2", expected_current=None, actor="run-2", reason="gated")
    moves = [(m.from_version, m.to_version, m.actor) for m in registry.history(client, "m")]
    assert moves == [(None, "1", "t"), ("1", "3", "outside retrain"), ("3", "none", "outside retrain"),
                     (None, "2", "run-2")]


# -- rollback -----------------------------------------------------------------------------------------------

def test_rollback_goes_to_the_previous_champion_or_the_version_asked_for_verified_first(client, verified):
    registry.move_champion(client, "m", "1", expected_current=None, actor="a", reason="first")
    registry.move_champion(client, "m", "2", expected_current="1", actor="b", reason="better")

    move = registry.rollback(client, "m", to_version=None, actor="cli:me", reason="bad predictions")
    assert (move.from_version, move.to_version, move.reason) == ("2", "1", "rollback: bad predictions")
    assert (_champion(client), _champion(client, "previous-champion")) == ("1", "2")
    move = registry.rollback(client, "m", to_version="3", actor="cli:me", reason="hotfix")
    assert (move.from_version, move.to_version) == ("1", "3") and _champion(client) == "3"
    assert verified == ["1", "3"]
    assert [m.to_version for m in registry.history(client, "m")] == ["1", "2", "1", "3"]


def test_a_rollback_target_that_fails_verification_never_becomes_champion(client, monkeypatch):
    registry.move_champion(client, "m", "1", expected_current=None, actor="a", reason="first")
    registry.move_champion(client, "m", "2", expected_current="1", actor="b", reason="better")

    def tampered(client, name, version):
        raise ArtifactIntegrityError(f"{name} version {version}: artifacts changed since training")

    monkeypatch.setattr(registry, "verify_artifacts", tampered)
    for target in (None, "1"):
        with pytest.raises(ArtifactIntegrityError, match="version 1"):
            registry.rollback(client, "m", to_version=target, actor="cli:me", reason="oops")
    assert _champion(client) == "2" and len(registry.history(client, "m")) == 2


def test_rollback_without_a_champion_or_a_previous_one_says_so(client, verified):
    with pytest.raises(RetrainError, match="m has no champion to roll back"):
        registry.rollback(client, "m", to_version="1", actor="cli:me", reason="x")
    registry.move_champion(client, "m", "1", expected_current=None, actor="a", reason="first")
    with pytest.raises(RetrainError, match="no previous champion; pass --to VERSION"):
        registry.rollback(client, "m", to_version=None, actor="cli:me", reason="x")
    assert _champion(client) == "1"


def test_rollback_to_the_current_champion_changes_nothing(client, capsys, verified):
    from retrain.cli import main

    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    registry.move_champion(client, "m", "2", expected_current="1", actor="t", reason="second")

    assert main(["rollback", "m", "--to", "2", "--reason", "oops"]) == 0
    assert "version 2 is already the champion; nothing changed" in capsys.readouterr().out
    assert _champion(client, "previous-champion") == "1" and verified == []
    assert [(m.from_version, m.to_version) for m in registry.history(client, "m")] == [(None, "1"), ("1", "2")]


def test_rollback_of_an_unknown_model_says_it_does_not_exist(client, capsys):
    from retrain.cli import main

    assert main(["rollback", "no_such_model", "--to", "1", "--reason", "typo"]) == 2
    assert "model 'no_such_model' does not exist" in capsys.readouterr().err
    assert [m.name for m in client.search_registered_models()] == ["m"]  # no lock model left behind either


def test_rollback_to_an_unknown_version_says_so(client, capsys):
    from retrain.cli import main

    registry.move_champion(client, "m", "1", expected_current=None, actor="t", reason="first")
    assert main(["rollback", "m", "--to", "7", "--reason", "typo"]) == 2
    assert "m has no version 7" in capsys.readouterr().err
    assert _champion(client) == "1"


def test_a_history_entry_fits_its_column_even_when_its_text_is_escaped_longer():
    """Emoji and other non-ASCII text take up to 12 characters each in the stored JSON."""
    import json

    from retrain.tracking.registry import HISTORY_ENTRY_LIMIT, AliasMove

    move = AliasMove("champion", "1", "2", "ana", "looks good 👍 " * 800, "2026-12-03T10:00:00+00:00")
    stored = move.to_json()
    assert len(stored) <= HISTORY_ENTRY_LIMIT
    entry = json.loads(stored)
    assert entry["reason"].startswith("looks good 👍") and entry["reason"].endswith(" …") and entry["actor"] == "ana"
