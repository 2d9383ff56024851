"""Shadow mode: a challenger that passed the gate is held beside the champion, scored on the next partitions
that land after its training data (rows neither model trained on), and promoted only if it still wins there.

State lives on the registry, so it survives between DAG runs: the alias ``shadow`` points at the held version,
whose tag ``retrain.shadow`` holds ``{status, champion, after, partitions, scores}``; ``scores`` has both models'
metrics per partition. Every run that passes its contract reviews a pending shadow first (``review``, called by
``gating_stage.evaluate``): it scores partitions newer than ``after`` it has not scored yet, and once
``partitions`` of them are in, decides with the spec's gate on their rows pooled. Start, win and loss go into
the model's history (``retrain history``). docs/evaluation.md has the picture.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from retrain.config import LoadedSpec
from retrain.data.freshness import DataSnapshot

log = logging.getLogger(__name__)

SHADOW = "shadow"
STATE_TAG = "retrain.shadow"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pending(client, name: str) -> tuple[str, dict] | None:
    """The version in shadow and its state, or None."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, SHADOW)
    except MlflowException:
        return None
    state = json.loads(version.tags.get(STATE_TAG, "{}"))
    if state.get("status") != "pending":
        return None
    if "scores" not in state:  # too long for a tag: the full state is in the version's run
        import mlflow.artifacts

        state = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/shadow/scores.json")
    return str(version.version), state


def start(loaded: LoadedSpec, client, version: str, champion_version: str, after_partition: str, actor: str) -> dict:
    """Hold ``version`` in shadow instead of promoting it."""
    from retrain.tracking import registry

    spec = loaded.spec
    name, count = spec.registered_model_name, spec.gate.shadow.partitions
    state = {"status": "pending", "champion": champion_version, "after": after_partition, "partitions": count,
             "scores": {}, "started_at": _now()}
    client.set_model_version_tag(name, version, STATE_TAG, json.dumps(state))
    client.set_registered_model_alias(name, SHADOW, version)
    reason = (f"shadow started: passed the gate against champion version {champion_version}; scored beside it on "
              f"the next {count} partition(s) after {after_partition} before promotion")
    registry.record(client, name, registry.AliasMove(SHADOW, champion_version, version, actor, reason, _now()))
    log.info("%s version %s: %s", name, version, reason)
    return state


def _score(spec, client, version: str, table, loaded_models: dict) -> dict:
    from retrain.data.encoding import head_labels
    from retrain.pipeline.scoring import head_scores, predict_version

    labels = head_labels(table, spec.heads, spec.data.drop_unlabeled_rows)
    return head_scores(spec, labels,
                       predict_version(client, spec.registered_model_name, version, table, spec, loaded_models))


def review(loaded: LoadedSpec, client, snapshot: DataSnapshot, actor: str) -> dict | None:
    """Score a pending shadow on the snapshot's partitions newer than its training data; conclude when enough.

    Returns what happened, for the run's summary (``version``, ``status``, ``scores``), or None without a shadow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from retrain.data import split
    from retrain.data.freshness import verify_unchanged
    from retrain.data.loading import drop_unlabeled, read_table
    from retrain.tracking.gate import decide

    spec, name = loaded.spec, loaded.spec.registered_model_name
    found = pending(client, name)
    if found is None:
        return None
    version, state = found
    due = sorted(Path(p).name for p in snapshot.partitions if Path(p).name > state["after"])[: state["partitions"]]
    if not due:
        return {"version": version, **state}
    labels = [h.label for h in spec.heads]
    segment = spec.segments.column if spec.segments is not None and spec.segments.values else None
    files = [f for f in snapshot.files if Path(f).parent.name in due]
    columns = [*spec.features.columns, *labels, *([segment] if segment else [])]
    table = read_table(files, columns=list(dict.fromkeys(columns)), partition_column=split.PARTITION_COLUMN)
    verify_unchanged(snapshot, files)
    if segment is not None:  # a segment model (segment_stage) is scored on its own segment's rows only
        from retrain.data.loading import segment_keys

        keys = segment_keys(table.column(segment))
        table = table.filter(pc.is_in(keys, value_set=pa.array(spec.segments.values, pa.string())))
    if spec.data.drop_unlabeled_rows:
        table = drop_unlabeled(table, labels)
    models: dict = {}  # each version downloaded and verified once
    for partition in due:
        if partition in state["scores"]:
            continue
        rows = table.filter(pc.equal(table.column(split.PARTITION_COLUMN), pa.scalar(partition)))
        if rows.num_rows == 0:
            continue
        state["scores"][partition] = {"rows": rows.num_rows, "shadow": _score(spec, client, version, rows, models),
                                      "champion": _score(spec, client, state["champion"], rows, models)}
    if len(state["scores"]) >= state["partitions"]:
        pooled_shadow = _score(spec, client, version, table, models)
        pooled_champion = _score(spec, client, state["champion"], table, models)
        decision = decide(spec.gate, spec.heads, pooled_shadow, pooled_champion, state["champion"],
                          holdout_rows=table.num_rows)  # enough rows to judge, as for any gate decision
        state["pooled"] = {"shadow": pooled_shadow, "champion": pooled_champion}
        _conclude(loaded, client, version, state, decision, due, actor)
    _log_scores(client, name, version, state)
    tag = json.dumps(state)
    if len(tag) > 4900:  # MLflow tag values are bounded; the artifact keeps every score
        tag = json.dumps({k: v for k, v in state.items() if k not in ("scores", "pooled")})
    client.set_model_version_tag(name, version, STATE_TAG, tag)
    _update_card(client, name, version, {"version": version, **state})
    return {"version": version, **state}


def _conclude(loaded: LoadedSpec, client, version: str, state: dict, decision, due: list[str], actor: str) -> None:
    from retrain.tracking import mlflow_store, registry

    name = loaded.spec.registered_model_name
    span = f"{due[0]}..{due[-1]}" if len(due) > 1 else due[0]
    if decision.promote:
        try:
            registry.verify_artifacts(client, name, version)
            registry.move_champion(client, name, version, expected_current=state["champion"], actor=actor,
                                   reason=f"won in shadow on {span}: " + "; ".join(decision.reasons))
            state["status"] = "won"
        except registry.PromotionConflict as conflict:
            state["status"], state["reason"] = "lost", str(conflict)
    else:
        state["status"], state["reason"] = "lost", "; ".join(decision.reasons)
    if state["status"] == "lost":
        current = mlflow_store.champion_version(client, name)
        reason = f"shadow lost on {span}: {state['reason']}"
        registry.record(client, name, registry.AliasMove(
            SHADOW, str(current.version) if current else None, version, actor, reason[:4000], _now()))
    client.delete_registered_model_alias(name, SHADOW)
    log.info("%s version %s shadow %s on %s", name, version, state["status"], span)


def _log_scores(client, name: str, version: str, state: dict) -> None:
    """Both scores per partition in the version's run, next to its model card."""
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        client.log_dict(run_id, state, "shadow/scores.json")


def _update_card(client, name: str, version: str, shadow: dict) -> None:
    """The version's model card (its description) with the shadow scores so far, replacing an older section."""
    from retrain.tracking.model_card import CARD_SECTION, card_section, set_card

    card = client.get_model_version(name, version).description or ""
    set_card(client, name, version, card.split(CARD_SECTION)[0].rstrip() + "\n\n" + card_section(shadow))
