"""Running the demo data contract with real Great Expectations: what passes, what is caught, and how it reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from retrain.errors import DataContractError, DeterministicFailure
from retrain.validation import ExpectationFailure, ValidationReport, load_suite, validate_frame

PARTITION = "ecommerce/impressions dt=2026-11-20"


def _validate(frame, suite) -> ValidationReport:
    return validate_frame(frame, suite, partition=PARTITION)


def _failure(report: ValidationReport, expectation: str, column: str | None) -> ExpectationFailure:
    found = [f for f in report.failures if f.expectation == expectation and f.column == column]
    assert len(found) == 1, f"expected one {expectation} failure on {column!r}, got {report.failures}"
    return found[0]


def test_good_demo_data_keeps_the_contract(good_frame, demo_suite):
    report = _validate(good_frame, demo_suite)

    assert report.success is True
    assert report.failures == [] and report.warnings == []
    assert report.evaluated == len(demo_suite.expectations) > 50
    assert report.statistics["rows"] == 2000
    assert report.statistics["successful_expectations"] == report.evaluated
    report.raise_for_blocking()  # does not raise


def test_dropped_column_is_named_without_a_gx_traceback(good_frame, demo_suite):
    report = _validate(good_frame.drop(columns=["price"]), demo_suite)

    assert report.success is False
    price_failures = [f for f in report.blocking if f.column == "price"]
    # every expectation on price fails, each with the same plain reason
    assert {f.expectation for f in price_failures} >= {
        "expect_column_to_exist",
        "expect_column_values_to_be_between",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_type_list",
    }
    for failure in price_failures:
        assert failure.observed == "column 'price' is missing from the data"
        assert "Traceback" not in failure.observed and "BatchData" not in failure.observed
    # nothing else is reported: the other columns are fine
    assert {f.column for f in report.failures} == {"price"}


def test_missing_column_in_a_pair_expectation_names_that_column(good_frame, demo_suite):
    report = _validate(good_frame.drop(columns=["conversion"]), demo_suite)

    pair = _failure(report, "expect_column_pair_values_a_to_be_greater_than_b", "add_to_cart, conversion")
    assert pair.observed == "column 'conversion' is missing from the data"
    assert "on columns 'add_to_cart' and 'conversion'" in pair.describe()


def test_out_of_range_price_shows_counts_bounds_and_values(good_frame, demo_suite):
    good_frame.loc[:2, "price"] = -5.0
    good_frame.loc[3, "price"] = 0.0  # price must be strictly positive
    good_frame.loc[4, "price"] = 250_000.0

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_values_to_be_between", "price")
    assert failure.severity == "block"
    assert failure.describe() == (
        "expect_column_values_to_be_between on column 'price': "
        "5 of 2000 values (0.25%) outside (0, 100000], e.g. [-5.0, 0.0, 250000.0]"
    )
    assert [f.column for f in report.blocking] == ["price"]


def test_unseen_device_is_caught_with_the_new_value(good_frame, demo_suite):
    good_frame.loc[:2, "device"] = "smart-fridge"

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_values_to_be_in_set", "device")
    assert (
        failure.observed
        == "3 of 2000 values (0.15%) not in ['mobile', 'desktop', 'tablet'], e.g. ['smart-fridge']"
    )
    assert report.success is False


@pytest.mark.parametrize("label", ["click", "add_to_cart", "conversion"])
def test_labels_outside_zero_one_are_caught(good_frame, demo_suite, label):
    good_frame.loc[:3, label] = 2
    good_frame.loc[4, label] = -1

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_values_to_be_in_set", label)
    assert failure.observed == "5 of 2000 values (0.25%) not in [0, 1], e.g. [2, -1]"
    assert report.success is False


def test_funnel_order_is_checked(good_frame, demo_suite):
    rows = good_frame.index[(good_frame["click"] == 0)][:4]
    good_frame.loc[rows, "add_to_cart"] = 1  # added to cart without a click

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_pair_values_a_to_be_greater_than_b", "click, add_to_cart")
    assert failure.observed == "4 of 2000 rows (0.2%) have click < add_to_cart, e.g. [(0, 1)]"


def test_duplicated_event_id_is_caught(good_frame, demo_suite):
    good_frame.loc[1, "event_id"] = good_frame.loc[0, "event_id"]

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_values_to_be_unique", "event_id")
    assert failure.observed == "2 of 2000 values (0.1%) are duplicates, e.g. ['20261120-00000000']"
    assert [f.column for f in report.blocking] == ["event_id"]


def test_all_null_price_is_caught(good_frame, demo_suite):
    good_frame["price"] = np.nan

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_values_to_not_be_null", "price")
    assert failure.observed == "2000 of 2000 values (100%) are null"
    assert report.success is False


def test_a_few_nulls_in_a_nullable_feature_are_allowed_but_a_flood_is_not(good_frame, demo_suite):
    assert good_frame["item_rating"].isna().any()  # the demo data has some nulls already: they pass
    good_frame.loc[:999, "item_rating"] = np.nan  # now more than half

    report = _validate(good_frame, demo_suite)

    failure = _failure(report, "expect_column_values_to_not_be_null", "item_rating")
    nulls = int(good_frame["item_rating"].isna().sum())
    assert failure.observed.startswith(f"{nulls} of 2000 values (")
    assert failure.observed.endswith("%) are null (at most 20% allowed)")


def test_numbers_as_strings_in_price_are_caught(good_frame, demo_suite):
    good_frame["price"] = good_frame["price"].astype(str)

    report = _validate(good_frame, demo_suite)

    dtype = _failure(report, "expect_column_values_to_be_in_type_list", "price")
    assert dtype.observed == "observed dtype 'str', expected one of ['float64', 'float32', 'Float64']"
    # the range check cannot compare text with numbers; GX's error becomes a one-line reason, not a traceback
    between = _failure(report, "expect_column_values_to_be_between", "price")
    assert between.observed.startswith("could not be evaluated ('price' has dtype str): ")
    assert "\n" not in between.observed and "Traceback" not in between.observed
    assert {f.column for f in report.blocking} == {"price"}


def test_warn_severity_is_reported_but_does_not_block(good_frame, demo_suite):
    good_frame.loc[:99, "country"] = "XX"  # 5% unseen countries; the suite allows 1% before warning

    report = _validate(good_frame, demo_suite)

    assert report.success is True
    assert report.blocking == []
    [warning] = report.warnings
    assert warning.severity == "warn" and warning.column == "country"
    assert "100 of 2000 values (5%) not in" in warning.observed and "['XX']" in warning.observed
    assert warning in report.failures
    assert report.to_dict()["warnings"][0]["column"] == "country"
    report.raise_for_blocking()  # warnings never raise


def test_raise_for_blocking_names_suite_partition_expectation_column_and_values(good_frame, demo_suite):
    good_frame.loc[:9, "hour_of_day"] = 99
    good_frame.loc[:99, "country"] = "XX"  # a warning: must not appear in the error

    report = _validate(good_frame, demo_suite)
    with pytest.raises(DataContractError) as caught:
        report.raise_for_blocking()

    assert isinstance(caught.value, DeterministicFailure)  # fails fast, no retries
    assert str(caught.value) == (
        "Data contract 'ecommerce_impressions' failed on partition ecommerce/impressions dt=2026-11-20: "
        "expect_column_values_to_be_between on column 'hour_of_day': 10 of 2000 values (0.5%) outside [0, 23], e.g. [99]"
    )
    assert caught.value.failures == [
        {
            "expectation": "expect_column_values_to_be_between",
            "column": "hour_of_day",
            "severity": "block",
            "observed": "10 of 2000 values (0.5%) outside [0, 23], e.g. [99]",
            "index": caught.value.failures[0]["index"],
            "suite": "ecommerce_impressions",
            "partition": PARTITION,
        }
    ]
    assert demo_suite.expectations[caught.value.failures[0]["index"]].kwargs["column"] == "hour_of_day"


def test_report_to_dict_is_json_and_round_trips_the_findings(good_frame, demo_suite):
    good_frame.loc[:4, "discount_pct"] = 1.5
    good_frame.loc[:99, "country"] = "XX"

    report = _validate(good_frame, demo_suite)
    data = json.loads(json.dumps(report.to_dict()))

    assert data["success"] is False
    assert data["suite"] == "ecommerce_impressions" and data["partition"] == PARTITION
    assert data["suite_sha256"] == demo_suite.sha256 and len(data["suite_sha256"]) == 64
    assert data["rows"] == 2000 and data["evaluated"] == len(demo_suite.expectations)
    assert [(f["column"], f["severity"]) for f in data["failures"]] == [
        ("discount_pct", "block"),
        ("country", "warn"),
    ]
    assert data["statistics"]["blocking_failures"] == 1 and data["statistics"]["warnings"] == 1
    assert data["statistics"]["unsuccessful_expectations"] == 2


def test_failures_follow_the_suite_file_order(good_frame, demo_suite):
    good_frame.loc[0, "hour_of_day"] = 24
    good_frame.loc[0, "device"] = "watch"
    good_frame.loc[1, "event_id"] = good_frame.loc[0, "event_id"]

    report = _validate(good_frame, demo_suite)

    indexes = [f.index for f in report.failures]
    assert indexes == sorted(indexes) and len(indexes) == 3
    assert [f.column for f in report.failures] == ["event_id", "hour_of_day", "device"]


def test_table_level_failure_has_no_column(good_frame, demo_suite):
    report = _validate(good_frame.iloc[0:0], demo_suite)

    failure = _failure(report, "expect_table_row_count_to_be_between", None)
    assert failure.observed == "observed 0 rows, expected at least 1"
    assert failure.describe() == "expect_table_row_count_to_be_between: observed 0 rows, expected at least 1"


def test_a_small_custom_suite_runs(good_frame, write_suite):
    suite = load_suite(
        write_suite(
            "name: small\n"
            "expectations:\n"
            "  - {expect: column_values_to_match_regex, column: event_id, regex: '^\\d{8}-\\d{8}$'}\n"
            "  - {expect: column_max_to_be_between, column: dwell_seconds, max_value: 1, severity: warn}\n"
        )
    )
    good_frame.loc[7, "event_id"] = "bad-id"

    report = validate_frame(good_frame, suite, partition="p")

    assert report.evaluated == 2 and report.success is False
    regex, dwell = report.failures
    assert (
        regex.observed.startswith("1 of 2000 values (0.05%) do not match") and "['bad-id']" in regex.observed
    )
    assert (
        dwell.severity == "warn"
        and dwell.observed.startswith("observed ")
        and "expected at most 1" in dwell.observed
    )


def test_nullable_integer_columns_pass_a_type_list_that_names_them(good_frame, demo_suite):
    """Parquet with nulls read through pandas' nullable types gives Int64 columns; the demo suite lists Int64."""
    import pandas as pd

    frame = good_frame.astype({"session_page_views": "Int64", "click": "Int64", "hour_of_day": "Int32"})
    frame.loc[0, "hour_of_day"] = pd.NA  # a null, as real nullable columns have (not_be_null catches it)
    report = _validate(frame, demo_suite)
    type_failures = [f for f in report.failures if f.expectation == "expect_column_values_to_be_in_type_list"]
    assert type_failures == []


def test_a_type_list_without_the_nullable_dtype_names_the_dtype_seen(good_frame, write_suite):
    suite = load_suite(write_suite(
        "name: t\nexpectations:\n  - {expect: column_values_to_be_in_type_list, column: click, type_list: [int64]}\n"
        "  - {expect: column_values_to_be_in_type_list, column: price, type_list: [Int64]}\n"))
    report = _validate(good_frame.astype({"click": "Int64"}), suite)
    assert [f.observed for f in report.failures] == [
        "observed dtype 'Int64', expected one of ['int64']",
        "observed dtype 'float64', expected one of ['Int64']",
    ]


def test_one_frame_and_narrow_frames_find_the_same_failures(good_frame, demo_suite, monkeypatch):
    """Small frames run as one GX frame, large ones split by null columns (contract._frames): same findings."""
    from retrain.validation import contract

    good_frame.loc[:999, "item_rating"] = np.nan  # a nullable column over its null allowance
    good_frame.loc[:9, "price"] = -5.0  # and out-of-range values in another
    one = _validate(good_frame, demo_suite)
    monkeypatch.setattr(contract, "NARROW_FRAMES_FROM_ROWS", 0)
    assert len(contract._frames(good_frame, demo_suite)) > 1
    split = _validate(good_frame, demo_suite)

    assert [f.to_dict() for f in one.failures] == [f.to_dict() for f in split.failures]
    assert {"item_rating", "price"} <= {f.column for f in one.failures}
    assert {k: v for k, v in one.statistics.items() if k != "duration_seconds"} == {
        k: v for k, v in split.statistics.items() if k != "duration_seconds"}
