"""An in-memory MLflow model registry: ``retrain.tracking.mlflow_store.RegistryClient`` without a store.

For unit tests of registry logic (the promotion lock, check-and-set, history, outside moves, rollback): each
call takes microseconds, where a SQLite store takes milliseconds and its migrations seconds. It answers like
the real store: names are unique (a second create raises ``RESOURCE_ALREADY_EXISTS``, atomically, so threads
can race for the lock), missing models and versions raise ``RESOURCE_DOES_NOT_EXIST``, a missing alias
``INVALID_PARAMETER_VALUE``, and it returns MLflow's own entities. Versions are strings, as a tracking
server returns them. ``tests/retrain/tracking/test_memory_registry.py`` runs the same scenario on this and on
a real store, so the two cannot drift apart.

    registry = MemoryRegistry()
    registry.create_registered_model("m")
    registry.create_model_version("m", source="file:///nowhere", run_id="r1")
    monkeypatch.setattr(mlflow_store, "connect", lambda settings: registry)   # the CLI's client, too

Artifacts are not kept: ``verify_artifacts`` and ``mlflow.register_model`` need a real store.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)

_FILTER = re.compile(r"^name = '([^']*)'(?: and run_id = '([^']*)')?$")


@dataclass
class _Version:
    source: str
    run_id: str | None
    tags: dict[str, str]
    created: int


@dataclass
class _Model:
    description: str | None
    tags: dict[str, str]
    created: int
    versions: dict[str, _Version] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class MemoryRegistry:
    def __init__(self) -> None:
        self.models: dict[str, _Model] = {}
        self._lock = threading.Lock()  # the store's transactions: a create is check-and-insert in one step

    # -- registered models ------------------------------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict | None = None,
                                description: str | None = None) -> RegisteredModel:
        with self._lock:
            if name in self.models:
                raise MlflowException(f"Registered Model (name={name}) already exists.", RESOURCE_ALREADY_EXISTS)
            self.models[name] = _Model(description, {k: str(v) for k, v in (tags or {}).items()}, _ms())
            return self._registered(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._lock:
            return self._registered(name)

    def delete_registered_model(self, name: str) -> None:
        with self._lock:
            self._model(name)
            del self.models[name]

    def set_registered_model_tag(self, name: str, key: str, value: object) -> None:
        with self._lock:
            self._model(name).tags[key] = str(value)

    def search_registered_models(self, filter_string: str | None = None) -> list[RegisteredModel]:
        """Not used by the product; for tests that look for what is left behind (``name = '<name>'`` or all)."""
        with self._lock:
            found = _FILTER.match(filter_string or "")
            names = sorted(n for n in self.models if not filter_string or (found and n == found.group(1)))
            return [self._registered(n) for n in names]

    # -- aliases ---------------------------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        with self._lock:
            self._model(name).aliases[alias] = self._version(name, version)[0]

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Not used by the product; tests move aliases "outside retrain" with it."""
        with self._lock:
            self._model(name).aliases.pop(alias, None)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._lock:
            model = self._model(name)
            if alias not in model.aliases:
                raise MlflowException(f"Registered model alias {alias} not found.", INVALID_PARAMETER_VALUE)
            return self._entity(name, model.aliases[alias])

    # -- versions --------------------------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict | None = None) -> ModelVersion:
        with self._lock:
            model = self._model(name)
            version = str(1 + max(map(int, model.versions), default=0))
            model.versions[version] = _Version(source, run_id, {k: str(v) for k, v in (tags or {}).items()}, _ms())
            return self._entity(name, version)

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        with self._lock:
            return self._entity(name, version)

    def set_model_version_tag(self, name: str, version: str | None = None, key: str | None = None,
                              value: object = None) -> None:
        with self._lock:
            self._version(name, version)[1].tags[str(key)] = str(value)

    def search_model_versions(self, filter_string: str | None = None) -> list[ModelVersion]:
        """Only the filters the product uses: ``name = '<name>'``, optionally ``and run_id = '<run id>'``;
        newest version first, like the store."""
        found = _FILTER.match(filter_string or "")
        if not found:
            raise NotImplementedError(f"MemoryRegistry cannot search by {filter_string!r}")
        name, run_id = found.groups()
        with self._lock:
            versions = self.models[name].versions if name in self.models else {}
            return [self._entity(name, v) for v in sorted(versions, key=int, reverse=True)
                    if run_id is None or versions[v].run_id == run_id]

    # -- helpers (called with the lock held) -----------------------------------------------------------------

    def _model(self, name: str) -> _Model:
        if name not in self.models:
            raise MlflowException(f"Registered Model with name={name} not found", RESOURCE_DOES_NOT_EXIST)
        return self.models[name]

    def _version(self, name: str, version: object) -> tuple[str, _Version]:
        if not str(version).isdigit():
            raise MlflowException(f"Parameter 'version' must be an integer, got '{version}'.", INVALID_PARAMETER_VALUE)
        versions = self.models[name].versions if name in self.models else {}
        if str(version) not in versions:
            raise MlflowException(f"Model Version (name={name}, version={version}) not found", RESOURCE_DOES_NOT_EXIST)
        return str(version), versions[str(version)]

    def _entity(self, name: str, version: object) -> ModelVersion:
        key, found = self._version(name, version)
        aliases = [a for a, v in self.models[name].aliases.items() if v == key]
        return ModelVersion(name, key, found.created, source=found.source, run_id=found.run_id,
                            tags=[ModelVersionTag(k, v) for k, v in found.tags.items()], aliases=aliases)

    def _registered(self, name: str) -> RegisteredModel:
        model = self._model(name)
        return RegisteredModel(name, model.created, description=model.description,
                               tags=[RegisteredModelTag(k, v) for k, v in model.tags.items()],
                               aliases=[RegisteredModelAlias(a, v) for a, v in model.aliases.items()])


def _ms() -> int:
    return int(time.time() * 1000)
