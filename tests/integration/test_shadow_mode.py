"""Shadow mode, run as the DAG's stages run it, in-process, over five days of generated data.

Day 1 promotes the first model. Day 2's candidate passes the gate and is held in shadow instead of promoted.
Day 3 scores the shadow and the champion on day 3 (1 of 2 partitions) and holds day 3's own candidate, since
one shadow runs at a time. Day 4 scores day 4, and with 2 partitions in, the shadow is promoted because it
still passes the gate there. Scores per partition are on the version, in its model card, in the Slack summary,
and the history shows the shadow's start and win.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest
from retrain.config import MetricBound, ShadowSpec

from tests.support.daily_runs import run_day as _run_day
from tests.support.daily_runs import small_daily_model

FIRST = date(2026, 6, 1)

pytestmark = pytest.mark.slow


@pytest.fixture
def shadowed(tmp_path, monkeypatch):
    loaded = small_daily_model(tmp_path, monkeypatch, first=FIRST, days=6, window=3, rows=300)
    spec = loaded.spec
    gated = {h: "r2" if h == "dwell" else "roc_auc" for h in spec.gate.heads}
    lenient = {h: g.model_copy(update={"max_regression": {m: 1e6 for m in [*g.max_regression, gated[h]]},
                                       "thresholds": {gated[h]: MetricBound(min=-1e6)}})
               for h, g in spec.gate.heads.items()}  # the shadow's verdict is then "wins", deterministically
    gate = spec.gate.model_copy(update={"heads": lenient, "shadow": ShadowSpec(partitions=2)})
    return dataclasses.replace(loaded, spec=spec.model_copy(update={"gate": gate}))


def test_shadow_is_scored_on_new_partitions_and_promoted_when_it_still_wins(shadowed):
    from retrain.pipeline.notify_stage import notify_outcome
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store, registry

    client = mlflow_store.connect(get_settings())
    name = shadowed.spec.registered_model_name
    days = [FIRST + timedelta(days=2 + i) for i in range(4)]

    first = _run_day(shadowed, days[0], "scheduled__1")
    assert first["promoted"] is True and first["version"] == "1"

    second = _run_day(shadowed, days[1], "scheduled__2")
    assert second["promoted"] is False and second["shadow"] is True and second["shadow_version"] == "2"
    assert mlflow_store.champion_version(client, name).version == 1
    assert client.get_model_version_by_alias(name, "shadow").version == 2

    third = _run_day(shadowed, days[2], "scheduled__3")
    shadow = third["evaluation"]["shadow"]
    assert shadow["status"] == "pending" and list(shadow["scores"]) == [f"dt={days[2]}"]
    assert third["promoted"] is False and any("another challenger is in shadow" in r for r in third["reasons"])
    summary = notify_outcome(shadowed, "scheduled__3", third["trained"], third["evaluation"], third,
                             third["decision"])
    assert f"dt={days[2]} (" in summary and "vs champion version 1: pending (1 of 2 partitions scored)" in summary

    fourth = _run_day(shadowed, days[3], "scheduled__4")
    shadow = fourth["evaluation"]["shadow"]
    assert shadow["status"] == "won" and sorted(shadow["scores"]) == [f"dt={days[2]}", f"dt={days[3]}"]
    for scores in shadow["scores"].values():
        assert set(scores["shadow"]) == set(scores["champion"]) == {"dwell", "click"}
    assert mlflow_store.champion_version(client, name).version == 2  # the shadow won and is champion
    assert fourth["evaluation"]["champion_version"] == "2"  # day 4's candidate faced the new champion

    version = client.get_model_version(name, "2")
    state = json.loads(version.tags["retrain.shadow"])
    assert state["status"] == "won" and len(state["scores"]) == 2
    assert "## Shadow evaluation" in version.description and f"dt={days[3]}" in version.description
    moves = registry.history(client, name)
    reasons = [m.reason for m in moves]
    assert any(r.startswith("shadow started") for r in reasons)
    assert any(r.startswith(f"won in shadow on dt={days[2]}..dt={days[3]}") for r in reasons)


def test_a_shadow_that_loses_on_the_next_partition_is_not_promoted(shadowed, capsys):
    """Day 2's candidate passes the gate and goes into shadow (1 partition). Before day 3 the team tightens the
    gate (an R² of 2 cannot be reached), so on day 3 the shadow loses: it is not promoted, the champion stays
    version 1, both scores for day 3 are on version 2, and `retrain history` shows the loss and why."""
    from retrain.cli import main
    from retrain.config import HeadGate
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    client = mlflow_store.connect(get_settings())
    name = shadowed.spec.registered_model_name
    days = [FIRST + timedelta(days=2 + i) for i in range(3)]
    spec = shadowed.spec
    one = dataclasses.replace(shadowed, spec=spec.model_copy(update={
        "gate": spec.gate.model_copy(update={"shadow": ShadowSpec(partitions=1)})}))
    strict_heads = {**spec.gate.heads, "dwell": HeadGate(thresholds={"r2": MetricBound(min=2.0)})}
    strict = dataclasses.replace(one, spec=one.spec.model_copy(update={
        "gate": one.spec.gate.model_copy(update={"heads": strict_heads})}))

    assert _run_day(one, days[0], "scheduled__1")["promoted"] is True
    assert _run_day(one, days[1], "scheduled__2")["shadow_version"] == "2"
    assert client.get_model_version_by_alias(name, "shadow").version == 2

    third = _run_day(strict, days[2], "scheduled__3")
    shadow = third["evaluation"]["shadow"]
    assert shadow["status"] == "lost" and "dwell.r2" in shadow["reason"]
    assert third["promoted"] is False  # day 3's own candidate faces the same strict gate
    assert mlflow_store.champion_version(client, name).version == 1  # the champion is untouched
    assert "shadow" not in client.get_registered_model(name).aliases

    version = client.get_model_version(name, "2")
    state = json.loads(version.tags["retrain.shadow"])
    assert state["status"] == "lost" and list(state["scores"]) == [f"dt={days[2]}"]
    scores = state["scores"][f"dt={days[2]}"]
    assert scores["rows"] > 0 and set(scores["shadow"]) == set(scores["champion"]) == {"dwell", "click"}
    assert scores["shadow"]["dwell"]["r2"] != scores["champion"]["dwell"]["r2"]  # two models, two scores
    assert "## Shadow evaluation" in version.description and "lost" in version.description

    capsys.readouterr()
    assert main(["history", name]) == 0
    printed = capsys.readouterr().out
    assert "shadow: 1 -> 2" in printed and f"(shadow lost on dt={days[2]}: " in printed and "dwell.r2" in printed
