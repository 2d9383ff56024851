from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from retrain.data.demo import generate_day
from retrain.errors import DataContractError, SpecError
from retrain.validation import load_suite, validate_frame

SUITE = Path(__file__).resolve().parents[3] / "include" / "expectations" / "ecommerce_impressions.yaml"


@pytest.fixture(scope="module")
def suite():
    return load_suite(SUITE)


@pytest.fixture
def good() -> pd.DataFrame:
    return generate_day(date(2026, 11, 20), 2000).to_pandas()


def _failures(frame, suite):
    report = validate_frame(frame, suite, partition="impressions dt=2026-11-20")
    return report, [f.describe() for f in report.blocking]


def test_good_data_passes(good, suite):
    report, blocking = _failures(good, suite)
    assert report.success and blocking == [] and report.evaluated == len(suite.expectations)


def test_dropped_column_is_named(good, suite):
    report, blocking = _failures(good.drop(columns=["price"]), suite)
    assert not report.success
    assert any("column 'price' is missing" in b for b in blocking)


def test_out_of_range_values_are_shown(good, suite):
    good.loc[:4, "price"] = -5.0
    _, blocking = _failures(good, suite)
    [msg] = [b for b in blocking if "price" in b]
    assert "expect_column_values_to_be_between on column 'price': 5 of 2000 values" in msg and "-5.0" in msg


def test_unseen_category_and_bad_labels(good, suite):
    good.loc[:2, "device"] = "smart-fridge"
    good.loc[:2, "conversion"] = 2
    _, blocking = _failures(good, suite)
    assert any("column 'device'" in b and "smart-fridge" in b for b in blocking)
    assert any("column 'conversion'" in b and "[2, 2, 2]" in b for b in blocking)


def test_duplicate_keys_all_nulls_and_strings(good, suite):
    good.loc[1, "event_id"] = good.loc[0, "event_id"]
    good["item_category"] = None
    good["discount_pct"] = good["discount_pct"].astype(str)
    _, blocking = _failures(good, suite)
    text = "\n".join(blocking)
    assert "expect_column_values_to_be_unique on column 'event_id'" in text
    assert "expect_column_values_to_not_be_null on column 'item_category'" in text
    assert "expect_column_values_to_be_in_type_list on column 'discount_pct': observed 'str'" in text


def test_warning_is_reported_but_does_not_block(good, suite):
    good.loc[:99, "country"] = "XX"  # 5% unseen countries: a warn-severity expectation
    report, blocking = _failures(good, suite)
    assert report.success and blocking == []
    assert [w.column for w in report.warnings] == ["country"]


def test_raise_for_blocking_names_suite_partition_and_column(good, suite):
    good.loc[:9, "hour_of_day"] = 99
    report = validate_frame(good, suite, partition="impressions dt=2026-11-20")
    with pytest.raises(DataContractError) as err:
        report.raise_for_blocking()
    message = str(err.value)
    assert "'ecommerce_impressions' failed on impressions dt=2026-11-20" in message and "'hour_of_day'" in message
    assert err.value.failures[0]["column"] == "hour_of_day"
    assert report.to_dict()["success"] is False


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("name: s\nexpectations:\n  - {expect: column_values_to_be_shiny, column: x}\n", "expectations[0].expect"),
        ("name: s\nexpectations:\n  - {expect: column_values_to_be_between, colum: x}\n", "expectations[0]"),
        ("name: s\nexpectations:\n  - {expect: column_to_exist, column: x, severity: loud}\n", "expectations[0].severity"),
        ("name: s\nexpectations: []\n", "expectations"),
    ],
)
def test_malformed_suite_names_file_and_field(tmp_path, content, field):
    path = tmp_path / "suite.yaml"
    path.write_text(content)
    with pytest.raises(SpecError) as err:
        load_suite(path)
    assert str(path) in str(err.value) and field in str(err.value)
