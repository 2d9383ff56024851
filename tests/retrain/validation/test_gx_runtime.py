"""GX plumbing: the kwargs lookups that build an expectation's configuration once give GX's own answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from retrain.validation import load_suite, validate_frame
from retrain.validation.gx_runtime import GX_OWN_KWARGS, import_gx, one_configuration_per_kwargs_lookup

ROOT = Path(__file__).resolve().parents[3]
EXTRA = [  # kinds the shipped suite does not use, with every kind of key (domain, success, defaults)
    {"expect": "column_pair_values_a_to_be_greater_than_b", "column_A": "a", "column_B": "b", "or_equal": True},
    {"expect": "compound_columns_to_be_unique", "column_list": ["a", "b"]},
    {"expect": "column_mean_to_be_between", "column": "a", "min_value": 0, "strict_min": True},
    {"expect": "table_row_count_to_be_between", "min_value": 1},
    {"expect": "column_values_to_match_regex", "column": "c", "regex": "^x", "mostly": 0.5},
]


def test_the_faster_kwargs_lookups_return_what_gxs_own_do(tmp_path) -> None:
    import yaml

    assert one_configuration_per_kwargs_lookup() == (import_gx().__version__ == "1.24.1")
    if not GX_OWN_KWARGS:
        return  # another GX release: its own code runs, nothing to compare
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"name": "extra", "expectations": EXTRA}))
    expectations = [e.to_gx() for path in [*sorted((ROOT / "include/expectations").glob("*.yaml")), extra]
                    for e in load_suite(path).expectations]
    assert len(expectations) > 60
    for expectation in expectations:
        assert expectation._get_domain_kwargs() == GX_OWN_KWARGS["domain"](expectation), expectation
        assert expectation._get_success_kwargs() == GX_OWN_KWARGS["success"](expectation), expectation


def test_a_validation_with_them_finds_the_same_failures_as_with_gxs_own(monkeypatch) -> None:
    from datetime import date

    from great_expectations.expectations.expectation import Expectation
    from retrain_demo.data import generate_day

    suite = load_suite(ROOT / "include/expectations/ecommerce_impressions.yaml")
    frame = generate_day(date(2026, 11, 20), 500).to_pandas()
    frame.loc[:40, "price"] = -5.0
    frame.loc[:90, "device"] = "smart_tv"
    frame["hour_of_day"] = pd.array(frame["hour_of_day"], dtype="Int64")
    frame.loc[:3, "hour_of_day"] = 30
    ours = [f.to_dict() for f in validate_frame(frame, suite, partition="d").failures]
    assert {(f["expectation"], f["column"]) for f in ours} >= {
        ("expect_column_values_to_be_between", "price"), ("expect_column_values_to_be_in_set", "device"),
        ("expect_column_values_to_be_between", "hour_of_day")}
    if GX_OWN_KWARGS:
        monkeypatch.setattr(Expectation, "_get_domain_kwargs", GX_OWN_KWARGS["domain"])
        monkeypatch.setattr(Expectation, "_get_success_kwargs", GX_OWN_KWARGS["success"])
        assert [f.to_dict() for f in validate_frame(frame, suite, partition="d").failures] == ours


def _broken_frames():
    """Demo days broken the ways the bad-data catalogue breaks them, and one clean day."""
    from datetime import date

    from retrain_demo.data import generate_day

    clean = generate_day(date(2026, 11, 20), 400).to_pandas()
    out_of_range = clean.assign(price=clean["price"].where(clean.index % 7 != 0, -5.0))
    unseen = clean.assign(device=clean["device"].where(clean.index % 3 != 0, "smart_tv"))
    nullable = clean.assign(hour_of_day=pd.array(clean["hour_of_day"], dtype="Int64"))
    nullable.loc[::5, "hour_of_day"] = pd.NA
    strings = clean.assign(price=clean["price"].astype(str))
    return {"clean": clean, "out_of_range": out_of_range, "unseen_category": unseen, "nullable_int": nullable,
            "numbers_as_strings": strings, "missing_column": clean.drop(columns=["device"]),
            "empty": clean.iloc[0:0]}


def test_a_validation_that_builds_configurations_and_ids_once_gives_gxs_whole_result(monkeypatch) -> None:
    from great_expectations.core.id_dict import IDDict
    from great_expectations.expectations.expectation import Expectation
    from retrain.validation.gx_runtime import built_once_per_validation

    assert built_once_per_validation() == (import_gx().__version__ == "1.24.1")
    suite = load_suite(ROOT / "include/expectations/ecommerce_impressions.yaml")

    def whole(report) -> dict:
        found = report.gx_result.to_json_dict()
        found.pop("meta")  # batch markers: when and how long
        return {"gx": found, "failures": [f.to_dict() for f in report.failures]}

    frames = _broken_frames()
    ours = {name: whole(validate_frame(frame, suite, partition=name)) for name, frame in frames.items()}
    assert ours["clean"]["gx"]["success"] and not ours["clean"]["failures"]
    assert all(ours[name]["failures"] for name in frames if name != "clean")
    if "configuration" in GX_OWN_KWARGS:
        monkeypatch.setattr(Expectation, "configuration", property(GX_OWN_KWARGS["configuration"]))
        monkeypatch.setattr(IDDict, "to_id", GX_OWN_KWARGS["to_id"])
        for name, frame in frames.items():
            assert whole(validate_frame(frame, suite, partition=name)) == ours[name], name


def test_ids_are_shared_only_between_equal_plain_kwargs() -> None:
    from retrain.validation.gx_runtime import _plain_key

    values = [1, True, 1.0, "1", None, [1], (1,), {"a": 1}, {"a": 1.0}, ["x", [2, None]]]
    keys = [_plain_key(v) for v in values]
    assert None not in keys and len(set(keys)) == len(values)
    assert _plain_key({"a": [1, "b"]}) == _plain_key({"a": [1, "b"]})
    assert _plain_key({"a": pd.Timestamp("2026-01-01")}) is None and _plain_key([object()]) is None


def test_data_docs_from_the_process_wide_page_view_match_a_fresh_ones() -> None:
    import re

    from retrain.validation import contract

    frames = _broken_frames()
    suite = load_suite(ROOT / "include/expectations/ecommerce_impressions.yaml")
    reports = [validate_frame(frames[name], suite, partition=name) for name in ("out_of_range", "clean")]
    # what differs between any two renders: the render time in GX's logo URL, random element ids
    varies = re.compile(r"\?d=\d{8}T[\d.]+Z|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

    def page(report) -> str:
        return varies.sub("", contract.render_data_docs(report.gx_result.to_json_dict(), report.to_dict()))

    reused = [page(report) for report in reports]
    assert "price" in reused[0] and "FAILED" in reused[0] and "PASSED" in reused[1]
    for report, html in zip(reports, reused, strict=True):
        contract._page_view.cache_clear()
        assert page(report) == html
