"""The in-memory registry (tests/support/memory_registry.py) answers like a real SQLite-backed MLflow store:
the same scenario runs on both, so the fake the registry's unit tests use cannot drift from MLflow."""

from __future__ import annotations

import inspect

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from retrain.tracking.mlflow_store import RegistryClient

from tests.support.memory_registry import MemoryRegistry
from tests.support.mlflow_db import migrated_mlflow


@pytest.fixture(params=["memory", "sqlite"])
def client(request, tmp_path):
    if request.param == "memory":
        return MemoryRegistry()
    uri = migrated_mlflow(tmp_path / "mlflow.db")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _error(call) -> tuple[str, str]:
    with pytest.raises(MlflowException) as caught:
        call()
    return caught.value.error_code, str(caught.value)


@pytest.mark.parametrize("implementation", [MlflowClient, MemoryRegistry])
def test_both_take_every_call_of_the_interface(implementation):
    """The Protocol's calls, with its parameter names, work on MlflowClient and on the fake."""
    for name in (n for n in vars(RegistryClient) if not n.startswith("_")):
        wanted = list(inspect.signature(getattr(RegistryClient, name)).parameters)
        given = inspect.signature(getattr(implementation, name)).parameters
        assert list(given)[:len(wanted)] == wanted, (implementation.__name__, name)
        assert all(p.default is not p.empty for p in list(given.values())[len(wanted):]), name


def test_names_are_unique_and_missing_things_raise_the_stores_error_codes(client):
    client.create_registered_model("m--promotion-lock", tags={"holder": "a:1"}, description="lock")
    code, message = _error(lambda: client.create_registered_model("m--promotion-lock", tags={"holder": "b:2"}))
    assert code == "RESOURCE_ALREADY_EXISTS" and "already exists" in message
    assert client.get_registered_model("m--promotion-lock").tags == {"holder": "a:1"}  # the first holder's

    client.create_registered_model("m")
    client.create_model_version("m", source="file:///nowhere/1")
    missing = [lambda: client.get_registered_model("x"), lambda: client.delete_registered_model("x"),
               lambda: client.set_registered_model_tag("x", "k", "v"),
               lambda: client.create_model_version("x", source="file:///nowhere"),
               lambda: client.get_model_version("m", "7"), lambda: client.get_model_version("x", "1"),
               lambda: client.get_model_version_by_alias("x", "champion"),
               lambda: client.set_registered_model_alias("m", "champion", "9"),
               lambda: client.set_registered_model_alias("x", "champion", "1"),
               lambda: client.set_model_version_tag("m", "9", "k", "v")]
    assert [_error(call)[0] for call in missing] == ["RESOURCE_DOES_NOT_EXIST"] * len(missing)
    assert _error(lambda: client.get_model_version("m", "abc"))[0] == "INVALID_PARAMETER_VALUE"
    assert _error(lambda: client.get_model_version_by_alias("m", "champion"))[0] == "INVALID_PARAMETER_VALUE"

    client.delete_registered_model("m--promotion-lock")  # released: the name is free again
    assert _error(lambda: client.get_registered_model("m--promotion-lock"))[0] == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model("m--promotion-lock", tags={"holder": "b:2"})
    assert client.get_registered_model("m--promotion-lock").tags == {"holder": "b:2"}
    assert [m.name for m in client.search_registered_models("name = 'm--promotion-lock'")] == ["m--promotion-lock"]


def test_tags_aliases_and_versions(client):
    client.create_registered_model("m", tags={"a": "1"})
    first = client.create_model_version("m", source="file:///nowhere/1", run_id="run-1", tags={"t": "1"})
    second = client.create_model_version("m", source="file:///nowhere/2", run_id="run-2")
    assert (str(first.version), str(second.version)) == ("1", "2")
    assert (first.run_id, first.source, first.tags) == ("run-1", "file:///nowhere/1", {"t": "1"})

    client.set_registered_model_tag("m", "retrain.history.000001", '{"to_version": "1"}')
    client.set_registered_model_tag("m", "n", 5)  # values are kept as strings
    assert client.get_registered_model("m").tags == {"a": "1", "retrain.history.000001": '{"to_version": "1"}',
                                                     "n": "5"}
    client.set_model_version_tag("m", "1", "t", "2")
    client.set_model_version_tag("m", "1", "k", "v")
    assert client.get_model_version("m", "1").tags == {"t": "2", "k": "v"}

    client.set_registered_model_alias("m", "champion", "1")
    client.set_registered_model_alias("m", "champion", "2")  # an alias moves; it is never on two versions
    client.set_registered_model_alias("m", "previous-champion", "1")
    champion = client.get_model_version_by_alias("m", "champion")
    assert (str(champion.version), champion.run_id, champion.aliases) == ("2", "run-2", ["champion"])
    assert client.get_model_version("m", "1").aliases == ["previous-champion"]
    assert {a: str(v) for a, v in client.get_registered_model("m").aliases.items()} == {
        "champion": "2", "previous-champion": "1"}
    client.delete_registered_model_alias("m", "champion")
    client.delete_registered_model_alias("m", "champion")  # deleting a missing alias is not an error
    assert _error(lambda: client.get_model_version_by_alias("m", "champion"))[0] == "INVALID_PARAMETER_VALUE"

    assert [str(v.version) for v in client.search_model_versions("name = 'm'")] == ["2", "1"]
    assert [str(v.version) for v in client.search_model_versions("name = 'm' and run_id = 'run-1'")] == ["1"]
    assert client.search_model_versions("name = 'm' and run_id = 'run-9'") == []
    assert client.search_model_versions("name = 'x'") == []
