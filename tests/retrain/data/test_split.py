"""The holdout split stays leak-free as the window slides: rows the champion trained on never grade it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
from retrain.data import split
from retrain_demo.data import generate_day

START = date(2026, 10, 1)
WINDOW = 28
COLUMNS = ["event_id", "price", "device", "hour_of_day", "click"]


def _day(offset: int, rows: int = 60) -> pa.Table:
    day = START + timedelta(days=offset)
    table = generate_day(day, rows).select(COLUMNS)
    return table.append_column(split.PARTITION_COLUMN, pa.array([f"dt={day:%Y-%m-%d}"] * rows))


def _window(first: int) -> tuple[pa.Table, list[str]]:
    days = [_day(first + i) for i in range(WINDOW)]
    return pa.concat_tables(days), sorted({t.column(split.PARTITION_COLUMN)[0].as_py() for t in days})


RULES = {
    "whole-row hash": split.HoldoutRule(0.2, tuple(c for c in COLUMNS if c != "event_id")),
    "key hash": split.HoldoutRule(0.2, ("event_id",)),
    "out of time": split.HoldoutRule(0.0, (), newest_days=2),
    "hash and out of time": split.HoldoutRule(0.1, ("event_id",), newest_days=1),
}


@pytest.mark.parametrize("rule_name", sorted(RULES))
@pytest.mark.parametrize("slide", [1, 7, 15])
def test_sliding_the_window_never_grades_the_champion_on_its_training_rows(rule_name, slide):
    rule = RULES[rule_name]
    champion_table, champion_partitions = _window(0)
    champion_train, _ = split.split(champion_table, rule, champion_partitions)
    table, partitions = _window(slide)
    _, holdout = split.split(table, rule, partitions)

    seen_by_id = set(champion_train.column("event_id").to_pylist()) & set(holdout.column("event_id").to_pylist())
    assert holdout.num_rows > 0 and seen_by_id == set()
    counted = split.champion_seen_rows(holdout, rule, champion_partitions)
    assert counted.rows == 0 and "champion's rule" in counted.how


def test_the_positional_split_this_replaces_did_leak():
    """Today's rule (a seeded random mask over row positions) puts champion training rows in the next holdout."""
    champion_table, _ = _window(0)
    table, _ = _window(1)
    rng_mask = lambda n: np.random.default_rng(42).random(n) < 0.2  # noqa: E731
    champion_train = champion_table.filter(pa.array(~rng_mask(champion_table.num_rows)))
    holdout = table.filter(pa.array(rng_mask(table.num_rows)))
    leaked = set(champion_train.column("event_id").to_pylist()) & set(holdout.column("event_id").to_pylist())
    assert len(leaked) > 0.5 * holdout.num_rows
    # and the count the gate uses sees it: a champion without a recorded rule may have seen its whole window
    _, champion_partitions = _window(0)
    assert split.champion_seen_rows(holdout, None, champion_partitions).rows > 0.9 * holdout.num_rows


def test_a_champion_split_by_another_rule_is_counted():
    champion_table, champion_partitions = _window(0)
    champion_rule = split.HoldoutRule(0.2, ("price", "device"))  # another key: other buckets
    champion_train, _ = split.split(champion_table, champion_rule, champion_partitions)
    table, partitions = _window(1)
    _, holdout = split.split(table, RULES["key hash"], partitions)
    truth = len(set(champion_train.column("event_id").to_pylist()) & set(holdout.column("event_id").to_pylist()))
    counted = split.champion_seen_rows(holdout, champion_rule, champion_partitions)
    assert truth > 0 and counted.rows == truth


def test_row_order_changes_nothing():
    table, partitions = _window(0)
    shuffled = table.take(pa.array(np.random.default_rng(1).permutation(table.num_rows)))
    for rule in RULES.values():
        train_a, hold_a = split.split(table, rule, partitions)
        train_b, hold_b = split.split(shuffled, rule, partitions)
        assert train_a.equals(train_b) and hold_a.equals(hold_b)


def test_a_row_hashes_the_same_whatever_the_window_infers_for_its_type():
    ints = pa.table({"x": pa.array([1, 2, None], pa.int64()), "s": ["a", None, "b"]})
    floats = pa.table({"x": pa.array([1.0, 2.0, None], pa.float64()), "s": ["a", None, "b"]})
    assert list(split.row_hashes(ints, ["x", "s"])) == list(split.row_hashes(floats, ["x", "s"]))
    assert len(set(split.row_hashes(ints, ["x", "s"]).tolist())) == 3


def test_ids_beyond_what_a_double_holds_split_as_themselves():
    # 16-digit listing ids and unsigned 64-bit keys, as a database exports them, with a null among them
    ids = [9_321_694_409_720_220 + i for i in range(200)] + [None]
    for kind in (pa.int64(), pa.uint64()):
        table = pa.table({"listing_id": pa.array(ids, kind)})
        hashes = split.row_hashes(table, ["listing_id"])
        assert len(set(hashes.tolist())) == len(ids)  # neighbours a double would round together stay apart
        assert list(split.row_hashes(table.slice(100), ["listing_id"])) == list(hashes[100:])  # a row alone
        held_out = split.holdout_mask(table, split.HoldoutRule(0.5, ("listing_id",)), [])
        assert 60 < held_out.sum() < 140

def test_rule_round_trips_through_its_tag_and_describes_itself():
    rule = RULES["hash and out of time"]
    assert split.HoldoutRule.from_tag(rule.to_tag()) == rule
    assert split.HoldoutRule.from_tag(None) is None
    assert rule.describe() == "10% of rows by a hash of event_id + the newest 1 day(s)"


@pytest.mark.slow
@pytest.mark.parametrize("slide", [1, 7, 15])
def test_the_gate_decision_is_unchanged_by_row_order(slide):
    """Champion trained on one window; the candidate on the window slid by ``slide`` days, its rows in file
    order and shuffled: the same holdout, the same trained model, the same scores, the same decision."""
    from pathlib import Path

    import torch
    from retrain.config import load_spec
    from retrain.pipeline.training_stage import build_and_fit
    from retrain.tracking.gate import decide
    from retrain.training.metrics import head_metrics

    spec = load_spec(Path(__file__).resolve().parents[3] / "include" / "specs" / "ecommerce_dwell_time.yaml").spec
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"epochs": 1, "device": "cpu"})})
    rule = split.rule_for(spec)
    columns = [*spec.features.columns, *(h.label for h in spec.heads)]

    def window(first: int) -> tuple[pa.Table, list[str]]:
        days = [START + timedelta(days=first + i) for i in range(WINDOW)]
        tables = [generate_day(d, 40).select(columns).append_column(split.PARTITION_COLUMN, pa.array([f"dt={d}"] * 40))
                  for d in days]
        return pa.concat_tables(tables), [f"dt={d}" for d in days]

    def scores(bundle, holdout):
        predicted = bundle.predict_table(holdout, torch.device("cpu"))
        return {h.name: head_metrics(h.kind, holdout.column(h.label).to_numpy(), predicted[h.name]) for h in spec.heads}

    champion_table, champion_partitions = window(0)
    champion, _ = build_and_fit(spec, *split.split(champion_table, rule, champion_partitions), torch.device("cpu"))
    table, partitions = window(slide)
    shuffled = table.take(pa.array(np.random.default_rng(slide).permutation(table.num_rows)))
    decisions = []
    for rows in (table, shuffled):
        train, holdout = split.split(rows, rule, partitions)
        seen = split.champion_seen_rows(holdout, rule, champion_partitions)
        candidate, _ = build_and_fit(spec, train, holdout, torch.device("cpu"))
        decisions.append(decide(spec.gate, spec.heads, scores(candidate, holdout), scores(champion, holdout), "1",
                                champion_seen_holdout_rows=seen.rows).to_dict())
    assert seen.rows == 0
    assert decisions[0] == decisions[1]


def _without_labels(table: pa.Table, partitions: list[str], newest: int) -> pa.Table:
    """The window as ``drop_unlabeled_rows`` leaves it when the newest days' labels have not arrived yet."""
    unlabeled = pa.array(partitions[-newest:], pa.string())
    return table.filter(pa.compute.invert(pa.compute.is_in(table.column(split.PARTITION_COLUMN), value_set=unlabeled)))


def test_out_of_time_holds_out_the_newest_days_that_have_labels():
    # labels arrive 5 days late: the newest 5 partitions have no labeled row, so they hold out nothing
    rule = split.HoldoutRule(0.0, (), newest_days=2)
    table, partitions = _window(0)
    train, holdout = split.split(_without_labels(table, partitions, 5), rule, partitions)
    assert set(holdout.column(split.PARTITION_COLUMN).to_pylist()) == set(partitions[-7:-5])
    assert train.num_rows == 21 * 60 and holdout.num_rows == 2 * 60


def test_as_labels_arrive_the_champion_is_never_graded_on_its_training_rows_nor_counted_unfairly():
    rule = split.HoldoutRule(0.1, ("event_id",), newest_days=2)
    champion_table, champion_partitions = _window(0)
    champion_rows = _without_labels(champion_table, champion_partitions, 5)
    champion_train, champion_holdout = split.split(champion_rows, rule, champion_partitions)
    without = split.partitions_without_rows(champion_partitions, champion_train, champion_holdout)
    assert without == champion_partitions[-5:]
    table, partitions = _window(1)  # a day later: one more day's labels have arrived
    _, holdout = split.split(_without_labels(table, partitions, 5), rule, partitions)
    seen = set(champion_train.column("event_id").to_pylist()) & set(holdout.column("event_id").to_pylist())
    assert holdout.num_rows > 0 and seen == set()
    tags = {split.RULE_TAG: rule.to_tag(), split.PARTITIONS_TAG: ",".join(champion_partitions),
            split.PARTITIONS_WITHOUT_ROWS_TAG: ",".join(without)}
    assert split.champion_seen_rows_from_tags(holdout, tags).rows == 0
    # a champion recorded before partitions without rows were: its whole window counts as trained on
    old = {k: v for k, v in tags.items() if k != split.PARTITIONS_WITHOUT_ROWS_TAG}
    assert split.champion_seen_rows_from_tags(holdout, old).rows > 0


def test_a_split_with_an_empty_side_is_an_error_naming_the_rule_and_the_rows():
    table, partitions = _window(0)
    few = table.slice(0, 5)  # five rows: a 0.01% hash holdout selects none of them
    with pytest.raises(split.EmptySplitError, match=r"no holdout rows: 0% of rows by a hash of event_id selects none "
                       r"of the 5 rows of dt=2026-10-01"):
        split.split(few, split.HoldoutRule(0.0001, ("event_id",)), partitions)
    # only the 2 newest labeled days are left in the window, and the rule holds out 2 newest days
    late = _without_labels(table, partitions, 26)
    with pytest.raises(split.EmptySplitError, match=r"no rows left to train on: the newest 2 day\(s\) hold out all "
                       r"120 rows of dt=2026-10-01..dt=2026-10-02 \(26 of the window's 28 partitions have no row"):
        split.split(late, split.HoldoutRule(0.0, (), newest_days=2), partitions)
    # no row at all: no advice about holdout fractions, which no setting could satisfy
    with pytest.raises(split.EmptySplitError, match=r"^no rows to split: none of the window's 28 partitions has a "
                       r"row \(no labeled row, or none of this segment\)$"):
        split.split(table.slice(0, 0), split.HoldoutRule(0.2, ()), partitions)
