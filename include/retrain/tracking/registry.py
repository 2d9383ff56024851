"""The model registry: challenger registration, champion moves with check-and-set, history and rollback.

MLflow keeps aliases but not their history, and it has no compare-and-swap on an alias. So:
- every alias move is appended to a history kept as registered-model tags ``retrain.history.<seq>``;
- moves happen under a lock whose atomicity comes from the store's unique constraint on model names:
  creating the registered model ``<name>--promotion-lock`` succeeds for exactly one contender;
- inside the lock the champion is compared with the version the candidate was gated against, and the
  move is refused if another run promoted in between.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from retrain.errors import (
    ArtifactIntegrityError as ArtifactIntegrityError,  # re-exported: callers catch it here
)
from retrain.errors import RetrainError
from retrain.tracking.mlflow_store import CHAMPION, PREVIOUS_CHAMPION, champion_version, version_for_run

if TYPE_CHECKING:
    from retrain.tracking.mlflow_store import RegistryClient

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
HISTORY_PREFIX = "retrain.history."
NO_CHAMPION = "none"  # to_version of a recorded move that removed the champion alias
LOCK_SUFFIX = "--promotion-lock"


class PromotionConflict(RetrainError):
    """Another run moved the champion after this candidate was gated; it must be gated again."""


OUTSIDE_ACTOR = "outside retrain"
# A history entry is a registered model tag: MLflow's column holds 5,000 characters, and PostgreSQL enforces it.
HISTORY_ENTRY_LIMIT = 5000


class PromotionLockUnavailable(RetrainError):
    """The promotion lock stayed taken for the whole wait: a transient fault, retried, then alerted.
    Never a reason to reject a candidate."""


@dataclass(frozen=True)
class AliasMove:
    alias: str
    from_version: str | None
    to_version: str
    actor: str
    reason: str
    at: str

    def to_json(self) -> str:
        """The history entry, at most ``HISTORY_ENTRY_LIMIT`` characters: a long reason or actor (an approver's
        free text) is shortened, since the alias has already moved when the entry is written."""
        entry = dict(self.__dict__)
        text = json.dumps(entry, sort_keys=True)
        for name in sorted(("reason", "actor"), key=lambda field: -len(entry[field])):
            if len(text) <= HISTORY_ENTRY_LIMIT:
                break
            value, low, high = entry[name], 0, len(entry[name])  # the longest prefix that fits, by halving
            while low < high:
                middle = (low + high + 1) // 2
                entry[name] = value[:middle] + " …"
                low, high = (middle, high) if len(json.dumps(entry, sort_keys=True)) <= HISTORY_ENTRY_LIMIT else (low, middle - 1)
            entry[name] = value[:low] + " …"
            text = json.dumps(entry, sort_keys=True)
        return text


def register_challenger(client: RegistryClient, name: str, run_id: str, model_uri: str, tags: dict[str, str]) -> str:
    """Register the run's model once (a retry finds it by run id), point ``challenger`` at it, return its version."""
    import mlflow
    from mlflow.exceptions import MlflowException

    version = version_for_run(client, name, run_id)
    if version is None and model_uri.startswith("models:/"):
        version = mlflow.register_model(model_uri, name, tags=tags)
    elif version is None:  # a plain artifact location: link the version to its run explicitly
        with suppress(MlflowException):
            client.create_registered_model(name)
        version = client.create_model_version(name, source=model_uri, run_id=run_id, tags=tags)
    else:
        for key, value in tags.items():
            client.set_model_version_tag(name, version.version, key, value)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)


def verify_artifacts(client: RegistryClient, name: str, version: str) -> dict[str, str]:
    """Download the version and check every file against the sha256 recorded at training; return the digests."""
    import tempfile

    from retrain.tracking.artifacts import digest_tree, download_verified

    with tempfile.TemporaryDirectory() as tmp:
        return digest_tree(download_verified(client, name, version, tmp))


@contextmanager
def promotion_lock(client: RegistryClient, name: str, holder: str, timeout_s: float | None = None,
                   lease_s: float = 300.0) -> Iterator[None]:
    """Mutual exclusion for alias moves of one model, across processes and hosts sharing the store.

    Waits ``timeout_s`` (default ``RETRAIN_PROMOTION_LOCK_TIMEOUT_SECONDS`` or 60) and then raises
    ``PromotionLockUnavailable``; a lock older than its lease (a crashed holder) is taken over."""
    from mlflow.exceptions import MlflowException

    if timeout_s is None:
        from retrain.settings import get_settings

        timeout_s = get_settings().promotion_lock_timeout_s
    lock_name = f"{name}{LOCK_SUFFIX}"
    token = f"{holder[:200]}:{uuid.uuid4().hex[:8]}"  # in a 5,000-character description; a holder is a name
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.create_registered_model(
                lock_name, tags={"holder": token, "expires_at": str(time.time() + lease_s)},
                description=f"Lock for alias moves of {name}; held by {token}. Safe to delete when stale.",
            )
            break
        except MlflowException as exc:
            # "does not exist" from a create: the lock existed at the insert and was released before MLflow
            # could read it back (its IntegrityError path). Contended, like "already exists"; try again now.
            released = "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code)
            if not released and "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code) and "already exists" not in str(exc):
                raise
            if not released and _lock_expired(client, lock_name):
                _delete_quietly(client, lock_name)
                continue
            if time.monotonic() > deadline:
                raise PromotionLockUnavailable(
                    f"could not take the promotion lock of {name} within {timeout_s:.0f} s "
                    f"(held: {_lock_holder(client, lock_name)}); the champion is unchanged"
                ) from None
            if not released:
                time.sleep(0.2)
    try:
        yield
    finally:
        if _lock_holder(client, lock_name) == token:  # after an expired lease, the lock may be someone else's
            _delete_quietly(client, lock_name)


def _lock_holder(client: RegistryClient, lock_name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(lock_name).tags.get("holder")
    except MlflowException:
        return None


def _lock_expired(client: RegistryClient, lock_name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(lock_name).tags
    except MlflowException:
        return False
    return float(tags.get("expires_at", "0")) < time.time()


def _delete_quietly(client: RegistryClient, lock_name: str) -> None:
    from mlflow.exceptions import MlflowException

    with suppress(MlflowException):
        client.delete_registered_model(lock_name)


def history(client: RegistryClient, name: str) -> list[AliasMove]:
    tags = client.get_registered_model(name).tags
    keys = sorted(k for k in tags if k.startswith(HISTORY_PREFIX))
    return [AliasMove(**json.loads(tags[k])) for k in keys]


def outside_move(client: RegistryClient, name: str) -> AliasMove | None:
    """A champion move that no history entry explains (made in the MLflow UI or API), or None."""
    moves = [m for m in history(client, name) if m.alias == CHAMPION]  # shadow events move no champion
    recorded = moves[-1].to_version if moves else None
    current = champion_version(client, name)
    found = str(current.version) if current else None
    if found == recorded or (recorded == NO_CHAMPION and found is None):
        return None
    return AliasMove(CHAMPION, recorded, found or NO_CHAMPION, OUTSIDE_ACTOR,
                     f"champion alias found at version {found or 'none'}, but the last recorded move was to "
                     f"{recorded or 'none'}: moved outside retrain (MLflow UI or API)", _now())


def record_outside_move(client: RegistryClient, name: str) -> AliasMove | None:
    """Append the unexplained move, if any, to the history. Call under the promotion lock."""
    move = outside_move(client, name)
    if move is not None:
        log.warning("%s: %s", name, move.reason)
        _append(client, name, move)
    return move


def _append(client: RegistryClient, name: str, move: AliasMove) -> None:
    """Append one event; called only under the promotion lock, so the sequence number is safe."""
    tags = client.get_registered_model(name).tags
    seq = 1 + max((int(k.removeprefix(HISTORY_PREFIX)) for k in tags if k.startswith(HISTORY_PREFIX)), default=0)
    client.set_registered_model_tag(name, f"{HISTORY_PREFIX}{seq:06d}", move.to_json())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def move_champion(client: RegistryClient, name: str, version: str, *, expected_current: str | None, actor: str,
                  reason: str) -> AliasMove:
    """Make ``version`` the champion if the champion is still ``expected_current``; record the move."""
    with promotion_lock(client, name, actor):
        record_outside_move(client, name)
        current = champion_version(client, name)
        current_version = str(current.version) if current else None
        if current_version != expected_current:
            raise PromotionConflict(
                f"{name}: champion moved to version {current_version} after this candidate was compared with "
                f"version {expected_current}; not promoting, gate it again against the new champion"
            )
        if current_version is not None and current_version != version:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current_version)
        client.set_registered_model_alias(name, CHAMPION, version)
        move = AliasMove(CHAMPION, current_version, version, actor, reason, _now())
        _append(client, name, move)
        return move


def record(client: RegistryClient, name: str, move: AliasMove) -> None:
    """Append an event that moves no champion (a shadow started or ended) to the model's history."""
    with promotion_lock(client, name, move.actor):
        _append(client, name, move)


def rollback(client: RegistryClient, name: str, *, to_version: str | None, actor: str,
             reason: str) -> AliasMove | None:
    """Move the champion back (to ``to_version``, or to the previous champion) and record why.

    Returns None, changing nothing, when the target already is the champion. The target's files are
    verified first: a version that fails verification never becomes champion."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
            raise RetrainError(f"model {name!r} does not exist in the registry") from None
        raise
    if to_version is not None:
        try:
            client.get_model_version(name, to_version)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "INVALID_PARAMETER_VALUE" in str(exc.error_code):
                raise RetrainError(f"{name} has no version {to_version}") from None
            raise
        current = champion_version(client, name)
        if current is not None and str(current.version) == str(to_version):
            return None
        verify_artifacts(client, name, to_version)  # before the lock: downloads take a while
    with promotion_lock(client, name, actor):
        record_outside_move(client, name)
        current = champion_version(client, name)
        if current is None:
            raise RetrainError(f"{name} has no champion to roll back")
        target = to_version
        if target is None:
            try:
                target = str(client.get_model_version_by_alias(name, PREVIOUS_CHAMPION).version)
            except MlflowException:
                raise RetrainError(f"{name} has no previous champion; pass --to VERSION") from None
            if target == str(current.version):
                return None
            verify_artifacts(client, name, target)
        if target == str(current.version):
            return None
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(current.version))
        client.set_registered_model_alias(name, CHAMPION, target)
        move = AliasMove(CHAMPION, str(current.version), target, actor, f"rollback: {reason}", _now())
        _append(client, name, move)
        return move
