"""Loading expectation suites from YAML: the demo suite's content, and clear errors for broken files."""

from __future__ import annotations

from datetime import date

import pytest
from retrain.errors import SpecError
from retrain.validation import ContractSuite, load_suite
from retrain_demo.data import DEVICES, ITEM_CATEGORIES, TRAFFIC_SOURCES, generate_day


def test_demo_suite_loads_typed(demo_suite):
    assert isinstance(demo_suite, ContractSuite)
    assert demo_suite.name == "ecommerce_impressions"
    assert len(demo_suite.sha256) == 64
    assert [e.index for e in demo_suite.expectations] == list(range(len(demo_suite.expectations)))
    between = next(e for e in demo_suite.expectations if e.expect == "column_values_to_be_between")
    assert between.gx_type == "expect_column_values_to_be_between"
    assert "expect" not in between.kwargs and "severity" not in between.kwargs
    assert between.severity == "block"
    country = next(e for e in demo_suite.expectations if e.column == "country" and "value_set" in e.kwargs)
    assert country.severity == "warn" and country.kwargs["mostly"] == 0.99


def test_demo_suite_covers_the_demo_schema(demo_suite):
    """Every column the generator writes is required to exist, and the allowed sets match the generator's."""
    schema = generate_day(date(2026, 11, 20), 5).schema
    existing = {e.column for e in demo_suite.expectations if e.expect == "column_to_exist"}
    assert existing == set(schema.names)

    value_sets = {
        e.column: e.kwargs["value_set"]
        for e in demo_suite.expectations
        if e.expect == "column_values_to_be_in_set"
    }
    assert value_sets["device"] == DEVICES
    assert value_sets["item_category"] == ITEM_CATEGORIES
    assert value_sets["traffic_source"] == TRAFFIC_SOURCES
    assert value_sets["click"] == value_sets["add_to_cart"] == value_sets["conversion"] == [0, 1]

    kinds = {(e.expect, e.column) for e in demo_suite.expectations}
    assert ("column_values_to_be_unique", "event_id") in kinds
    assert ("table_row_count_to_be_between", None) in kinds
    for column in ("price", "discount_pct", "hour_of_day", "item_rating"):
        assert ("column_values_to_be_between", column) in kinds
        assert ("column_values_to_be_in_type_list", column) in kinds
    nullable = {"traffic_source", "user_tenure_days", "item_rating"}
    strict_not_null = {
        e.column
        for e in demo_suite.expectations
        if e.expect == "column_values_to_not_be_null" and "mostly" not in e.kwargs
    }
    assert strict_not_null == set(schema.names) - nullable


def test_the_gx_expectation_gets_our_arguments_and_severity(demo_suite):
    warn = next(e for e in demo_suite.expectations if e.severity == "warn")
    gx_expectation = warn.to_gx(meta={"k": 1})
    assert gx_expectation.expectation_type == warn.gx_type
    assert gx_expectation.column == warn.kwargs["column"]
    assert str(gx_expectation.severity.value) == "warning"
    assert gx_expectation.meta == {"k": 1}


def test_notes_and_description_are_allowed(write_suite):
    suite = load_suite(
        write_suite(
            "name: small\ndescription: a test\nexpectations:\n"
            "  - {expect: column_to_exist, column: x, notes: 'needed by the model', severity: warn}\n"
        )
    )
    [only] = suite.expectations
    assert only.kwargs == {"column": "x", "notes": "needed by the model"} and only.severity == "warn"
    assert suite.description == "a test"


_ONE = "name: s\nexpectations:\n  - {expect: column_to_exist, column: x}\n"


@pytest.mark.parametrize(
    ("content", "field", "says"),
    [
        (
            "name: s\nexpectations:\n  - {expect: column_values_to_be_shiny, column: x}\n",
            "expectations[0].expect",
            "unknown expectation 'column_values_to_be_shiny'",
        ),
        (
            "name: s\nexpectations:\n  - {expect: expect_column_to_exist, column: x}\n",
            "expectations[0].expect",
            "write 'column_to_exist', without the 'expect_' prefix",
        ),
        (
            _ONE + "  - {expect: column_values_to_be_between, colum: x, min_value: 1}\n",
            "expectations[1].colum",
            "not an argument of ExpectColumnValuesToBeBetween",
        ),
        (
            _ONE + "  - {expect: column_values_to_be_between, column: x, min_value: abc}\n",
            "expectations[1].min_value",
            "value is not a valid float",
        ),
        (
            _ONE + "  - {expect: column_values_to_be_between, column: x}\n",
            "expectations[1]",
            "min_value and max_value cannot both be None",
        ),
        (
            _ONE + "  - {expect: column_values_to_be_in_set, column: x, value_set: [a], mostly: 2}\n",
            "expectations[1].mostly",
            "less than or equal to 1",
        ),
        (
            "name: s\nexpectations:\n  - {expect: column_to_exist, column: x, severity: loud}\n",
            "expectations[0].severity",
            "'block' or 'warn'",
        ),
        (
            "name: s\nexpectations:\n  - {expect: column_to_exist, column: x, meta: {a: 1}}\n",
            "expectations[0].meta",
            "set by the pipeline",
        ),
        ("name: s\nexpectations:\n  - {column: x}\n", "expectations[0].expect", "Field required"),
        ("name: s\nexpectations:\n  - column_to_exist\n", "expectations[0]", "must be a mapping"),
        ("name: s\nexpectations: []\n", "expectations", "at least 1 item"),
        ("expectations:\n  - {expect: column_to_exist, column: x}\n", "name", "Field required"),
        ("name: s\nchekcs: []\n" + _ONE.split("\n", 1)[1], "chekcs", "Extra inputs are not permitted"),
    ],
)
def test_malformed_suite_names_file_and_field(write_suite, content, field, says):
    path = write_suite(content)

    with pytest.raises(SpecError) as caught:
        load_suite(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: invalid expectation suite: ")
    assert f"field '{field}': " in message and says in message
    assert field in caught.value.fields and caught.value.path == str(path)


def test_every_broken_entry_is_reported_at_once(write_suite):
    path = write_suite(
        "name: s\nexpectations:\n"
        "  - {expect: column_to_exist, column: ok}\n"
        "  - {expect: no_such_thing}\n"
        "  - {expect: column_values_to_be_in_set, column: d, value_set: 3}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_suite(path)
    assert caught.value.fields == ["expectations[1].expect", "expectations[2].value_set"]


@pytest.mark.parametrize(
    ("content", "says"),
    [("name: s\n  bad: [\n", "not valid YAML"), ("- just\n- a list\n", "must be a YAML mapping")],
)
def test_unreadable_suite_file_names_the_file(write_suite, content, says):
    path = write_suite(content)
    with pytest.raises(SpecError) as caught:
        load_suite(path)
    assert str(caught.value).startswith(f"{path}: ") and says in str(caught.value)


def test_missing_suite_file_names_the_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as caught:
        load_suite(path)
    assert str(caught.value) == f"{path}: cannot read expectation suite: No such file or directory"
