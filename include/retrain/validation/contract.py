"""Run a data contract on a data frame and turn GX's results into messages people can act on.

One call builds one ephemeral GX context (data source -> dataframe asset -> whole-frame batch) and runs every
expectation of an unstored ExpectationSuite in a single ``Batch.validate`` over the frame.

Two passes (``docs/benchmarks.md``, validation): every expectation runs with GX's ``BASIC`` result format
(counts, observed values and up to 20 failing values), then only the expectations that failed run again with
``SUMMARY``, whose results replace theirs. ``SUMMARY`` on every expectation made GX collect the failing row
indexes and a query for each map expectation, each a filter of the whole frame (every column) by the
column's nulls; on 1,000,000 demo rows that was about two thirds of GX's time, for results that are only
read when an expectation fails. GX's batch fingerprint (a hash of the whole frame, done below 1 GB) is
turned off: our partitions carry their own fingerprint (``DataSnapshot.fingerprint``). Column expectations
on a column that has nulls run on a frame of only their columns (``_frames``): GX drops null rows by copying
the whole frame, once per such expectation. The results are merged into one, in suite order.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import DataContractError
from retrain.validation.checks import PartitionRows, run_checks
from retrain.validation.suite import ContractExpectation, ContractSuite, Severity

if TYPE_CHECKING:
    import pandas as pd

_INDEX_KEY = "retrain_index"  # carried in each GX expectation's meta: GX returns results in its own order
log = logging.getLogger(__name__)
_SAMPLES = 5  # distinct failing values quoted in a message
_MISSING_COLUMN = re.compile(r'The column "(?P<column>[^"]+)" in BatchData does not exist')


@dataclass(frozen=True)
class ExpectationFailure:
    """One expectation that did not hold, in words."""

    expectation: str  # GX type, e.g. "expect_column_values_to_be_between"
    column: str | None  # None for table-level expectations; "a, b" for pair expectations
    severity: Severity
    observed: str  # what was seen: counts, percentages and a few failing values, or the missing column
    index: int = -1  # position in the suite file
    partition: str | None = None  # the day partition (``dt=...``) it failed on, when checked on its own

    def describe(self) -> str:
        names = self.column.split(", ") if self.column else []
        where = f" on column '{names[0]}'" if len(names) == 1 else ""
        if len(names) > 1:
            where = " on columns " + " and ".join(f"'{n}'" for n in names)
        day = f" in {self.partition}" if self.partition else ""
        return f"{self.expectation}{where}{day}: {self.observed}"

    __str__ = describe

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "severity": self.severity,
            "observed": self.observed,
            "index": self.index,
            **({"partition": self.partition} if self.partition else {}),
        }


def _days(partitions: list[str]) -> str:
    """Partitions a failure was seen on, in words: all of them up to three, else the first, the last, how many."""
    if len(partitions) <= 3:
        return ", ".join(partitions)
    ordered = sorted(partitions)
    return f"{ordered[0]} … {ordered[-1]} ({len(ordered)} partitions)"


@dataclass(frozen=True)
class ValidationReport:
    """What a contract run found. ``success`` is False only when a blocking expectation failed."""

    suite: str
    partition: str
    rows: int
    evaluated: int
    failures: list[ExpectationFailure] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    suite_sha256: str = ""
    gx_result: Any = field(default=None, repr=False, compare=False)  # GX's own result, for JSON and Data Docs

    @property
    def blocking(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.severity == "block"]

    @property
    def warnings(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.severity == "warn"]

    @property
    def success(self) -> bool:
        return not self.blocking

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary, for XCom and for the MLflow run's validation artifact."""
        return {
            "suite": self.suite,
            "suite_sha256": self.suite_sha256,
            "partition": self.partition,
            "success": self.success,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "failures": [f.to_dict() for f in self.failures],
            "warnings": [f.to_dict() for f in self.warnings],
            "statistics": dict(self.statistics),
        }

    @property
    def failing_partitions(self) -> list[str]:
        """Days whose own check blocked (``dt=...``), in order."""
        return sorted({f.partition for f in self.blocking if f.partition})

    def error_message(self) -> str:
        details = "; ".join(f.describe() for f in self._blocking_in_order())
        days = self.failing_partitions
        if days:
            dataset, _, window = self.partition.rpartition(" ")
            where = f"{dataset + ' ' if dataset else ''}{_days(days)} (window {window})"
            return f"Data contract '{self.suite}' failed on partition {where}: {details}"
        return f"Data contract '{self.suite}' failed on partition {self.partition}: {details}"

    def _blocking_in_order(self) -> list[ExpectationFailure]:
        """What blocked, as a person should read it: the built-in checks first (a column that is text, a label
        that is missing: causes, which make suite checks on that column fail too), then the day-by-day checks;
        one failure seen alike on several days is one entry naming those days."""
        days: dict[tuple, list[str]] = {}
        first: dict[tuple, ExpectationFailure] = {}
        for failure in self.blocking:
            key = (failure.expectation, failure.column, failure.observed, failure.partition is None)
            first.setdefault(key, failure)
            days.setdefault(key, []).extend([failure.partition] if failure.partition else [])
        merged = [replace(failure, partition=_days(days[key]) or None) for key, failure in first.items()]
        return sorted(merged, key=lambda f: (not f.expectation.startswith("retrain_"), f.partition is None))

    def _named(self, failure: ExpectationFailure) -> str:
        """The partition a failure names in alerts: its own day (with the dataset) or the whole window."""
        if not failure.partition:
            return self.partition
        dataset = self.partition.rpartition(" ")[0]
        return f"{dataset} {failure.partition}".strip()

    def raise_for_blocking(self, data_docs_url: str | None = None) -> None:
        """Raise DataContractError naming each blocking failure. Warnings never raise."""
        if self.success:
            return
        raise DataContractError(
            self.error_message(),
            failures=[
                {**f.to_dict(), "suite": self.suite, "partition": self._named(f)}
                for f in self._blocking_in_order()
            ],
            data_docs_url=data_docs_url,
        )


def validate_frame(
    df: pd.DataFrame,
    suite: ContractSuite,
    *,
    partition: str,
    partitions: Sequence[PartitionRows] | None = None,
    result_format: str | None = None,
) -> ValidationReport:
    """Check ``df`` against ``suite`` in one GX validation run. Bad data never raises here; see raise_for_blocking.

    ``partitions``: the partitions the frame's rows came from, in order; the suite's retrain checks
    (``checks:``) need them and are skipped without them. ``result_format``: None (the default) runs BASIC
    over every expectation and SUMMARY over the failed ones (see the module doc); a GX result format name
    runs one pass with it.
    """
    started = time.perf_counter()
    results = _run_gx(df, suite, result_format)
    columns = {str(c) for c in df.columns}
    dtypes = {str(c): str(t) for c, t in df.dtypes.items()}
    by_index = {e.index: e for e in suite.expectations}

    failures: list[ExpectationFailure] = []
    for result in results.results:
        if result.success:
            continue
        exp = by_index[result.expectation_config.meta[_INDEX_KEY]]
        observed = _observed(exp, result, rows=len(df), columns=columns, dtypes=dtypes)
        failures.append(ExpectationFailure(exp.gx_type, exp.column, exp.severity, observed, exp.index))
    failures.sort(key=lambda f: f.index)
    checked = 0
    if partitions is not None:
        for offset, (check, problem) in enumerate(run_checks(df, suite.checks, list(partitions))):
            checked += 1
            if problem is not None:
                column = getattr(check, "column", None)
                failures.append(ExpectationFailure(
                    f"retrain_{check.check}", column, check.severity, problem, len(suite.expectations) + offset
                ))

    gx_stats = dict(results.statistics)
    statistics = {
        "evaluated_expectations": int(gx_stats.get("evaluated_expectations", len(results.results))),
        "successful_expectations": int(gx_stats.get("successful_expectations", 0)),
        "unsuccessful_expectations": int(gx_stats.get("unsuccessful_expectations", len(failures))),
        "success_percent": float(gx_stats.get("success_percent") or 0.0),
        "blocking_failures": sum(f.severity == "block" for f in failures),
        "warnings": sum(f.severity == "warn" for f in failures),
        "rows": len(df),
        "columns": len(columns),
        "duration_seconds": round(time.perf_counter() - started, 3),
    }
    return ValidationReport(
        suite=suite.name,
        partition=partition,
        rows=len(df),
        evaluated=len(results.results) + checked,
        failures=failures,
        statistics=statistics,
        suite_sha256=suite.sha256,
        gx_result=results,
    )


def contract_frame(table: Any) -> pd.DataFrame:
    """The table as pandas, with integer columns that hold nulls as nullable integers (``Int64``...) rather
    than pandas' default float64, so a type check sees the integer column the parquet file holds, and decimals
    (a database's money columns) as float64 rather than objects, so ranges and drift read them as numbers."""
    import pandas as pd
    import pyarrow as pa

    decimals = [f.name for f in table.schema if pa.types.is_decimal(f.type)]
    if decimals:
        table = table.cast(pa.schema([f.with_type(pa.float64()) if f.name in decimals else f for f in table.schema]))
    frame = table.to_pandas()
    nullable = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                pa.int64(): pd.Int64Dtype()}
    for index, schema_field in enumerate(table.schema):
        column = table.column(index)
        if schema_field.type in nullable and column.null_count and frame.columns.is_unique:
            frame[schema_field.name] = column.to_pandas(types_mapper=nullable.get).values
    return frame


def add_failures(report: ValidationReport, failures: Sequence[ExpectationFailure]) -> ValidationReport:
    """The report with more failures (drift, for one) appended, counted as evaluated checks."""
    if not failures:
        return report
    merged = sorted([*report.failures, *failures], key=lambda f: f.index)
    stats = {**report.statistics, "blocking_failures": sum(f.severity == "block" for f in merged),
             "warnings": sum(f.severity == "warn" for f in merged)}
    return replace(report, failures=merged, statistics=stats)


def write_report(report: ValidationReport, folder: Path, *, extra: dict[str, Any] | None = None,
                 error: str | None = None) -> dict[str, str]:
    """Keep what a validation found under ``folder``: report.json (ours), gx_result.json and Data Docs.

    Written before any failure is raised, so a rejected partition's report stays. Returns the paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    summary = {**report.to_dict(), **(extra or {})}
    if error:
        summary["error"] = error
    paths = {"folder": str(folder), "json": str(folder / "report.json")}
    (folder / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    gx_json = None
    if report.gx_result is not None:
        gx_json = report.gx_result.to_json_dict()
        (folder / "gx_result.json").write_text(json.dumps(gx_json, indent=2, default=str))
        paths["gx_json"] = str(folder / "gx_result.json")
    try:
        html = render_data_docs(gx_json, summary)
    except Exception as exc:  # Data Docs are a convenience; the JSON above is the record
        log.warning("could not build Data Docs for %s: %s", report.partition, exc)
    else:
        docs = folder / "data_docs" / "index.html"
        docs.parent.mkdir(exist_ok=True)
        docs.write_text(html)
        paths["data_docs"] = str(docs)
    return paths


@functools.cache
def _page_view() -> Any:
    """GX's Jinja page view, one per process: each new one compiles its templates again (two thirds of a
    render)."""
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def render_data_docs(gx_json: dict[str, Any] | None, summary: dict[str, Any]) -> str:
    """GX Data Docs (the validation results page GX's site builder renders) with our checks on top.

    Without a GX result (the data could not be read) the page holds our part only.
    """
    import html as html_lib

    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    # Rebuilt from JSON: plain floats render, numpy scalars in a live result trip GX's num_to_str.
    page = "<html><head><meta charset='utf-8'><title>Data contract</title></head><body></body></html>"
    if gx_json is not None:
        result = ExpectationSuiteValidationResultSchema().load(json.loads(json.dumps(gx_json, default=str)))
        page = _page_view().render(ValidationResultsPageRenderer().render(result))
    ours = [f for f in summary.get("failures", []) if str(f.get("expectation", "")).startswith("retrain_")]
    if summary.get("error"):
        ours.append({"severity": "block", "expectation": "unreadable data", "column": None, "observed": summary["error"]})
    verdict = "PASSED" if summary.get("success") else "FAILED (blocking)"
    rows = "".join(
        f"<li><b>{html_lib.escape(f['severity'])}</b> {html_lib.escape(f['expectation'])} "
        f"{html_lib.escape(f.get('column') or '')}: {html_lib.escape(f['observed'])}</li>" for f in ours
    )
    banner = (
        f"<div style='padding:1em;font-family:sans-serif;border-bottom:1px solid #ccc'>"
        f"<h2>Data contract {html_lib.escape(str(summary.get('suite')))} on "
        f"{html_lib.escape(str(summary.get('partition')))}: {verdict}</h2>"
        f"<p>{summary.get('rows')} rows; retrain checks and drift:</p><ul>{rows or '<li>all held</li>'}</ul></div>"
    )
    return page.replace("<body>", "<body>" + banner, 1) if "<body>" in page else banner + page


FIRST_PASS = "BASIC"
"""GX result format of the pass over every expectation; failures are re-run with ``SUMMARY``."""


def _run_gx(df: pd.DataFrame, suite: ContractSuite, result_format: str | None = None) -> Any:
    """GX's validation of ``df``, as one result in suite order. ``result_format=None``: BASIC for all, then
    SUMMARY for the failures. Column expectations on a column with nulls run on a frame of their columns
    only (see ``_frames``); their results are merged into one."""
    runs = [_run_passes(frame, part, result_format) for frame, part in _frames(df, suite)]
    merged = runs[0]
    if len(runs) > 1:
        results = sorted((r for run in runs for r in run.results),
                         key=lambda r: r.expectation_config.meta[_INDEX_KEY])
        successful = sum(bool(r.success) for r in results)
        merged.results = results
        merged.success = successful == len(results)
        merged.statistics = {
            **merged.statistics, "evaluated_expectations": len(results), "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": successful / len(results) * 100 if results else None,
        }
    return merged


# Measured on the demo suite (3 columns with nulls, so 4 frames): one frame is cheaper at 3,000 rows (0.19 vs
# 0.29 s of CPU), 30,000 (0.21 vs 0.29) and 150,000 (0.28 vs 0.33); the split is cheaper at 1,000,000 (0.63 vs 0.80).
NARROW_FRAMES_FROM_ROWS = 400_000


def _frames(df: pd.DataFrame, suite: ContractSuite) -> list[tuple[pd.DataFrame, ContractSuite]]:
    """The frames GX runs on: the whole frame for most expectations, and for column expectations that read a
    column with nulls, a frame of only the columns they read. GX's pandas engine drops a column's null rows
    by filtering the whole frame (``df[df[column].notnull()]``, a copy of every column) for each such
    expectation; on the narrow frame that copy is of one or two columns. Same results, same row count.
    Below ``NARROW_FRAMES_FROM_ROWS`` rows the copies cost less than a GX run each, so one frame it is."""
    if not df.columns.is_unique or len(df) < NARROW_FRAMES_FROM_ROWS:  # duplicate names: all to GX, too
        return [(df, suite)]
    present = {str(c) for c in df.columns}
    with_nulls = {str(c) for i, c in enumerate(df.columns) if df.iloc[:, i].hasnans}
    whole: list[ContractExpectation] = []
    narrow: dict[tuple[str, ...], list[ContractExpectation]] = {}
    for exp in suite.expectations:
        columns = tuple(dict.fromkeys(exp.columns))
        if (exp.expect.startswith("column_") and exp.expect != "column_to_exist" and columns
                and set(columns) <= present and set(columns) & with_nulls):
            narrow.setdefault(columns, []).append(exp)
        else:
            whole.append(exp)
    parts = [(df, whole)] if whole else []
    parts += [(df[list(columns)], exps) for columns, exps in narrow.items()]
    return [(frame, replace(suite, expectations=tuple(exps))) for frame, exps in parts]


def _run_passes(df: pd.DataFrame, suite: ContractSuite, result_format: str | None) -> Any:
    if result_format is not None:
        return _run_gx_once(df, suite, result_format)
    results = _run_gx_once(df, suite, FIRST_PASS)
    failed = {r.expectation_config.meta[_INDEX_KEY] for r in results.results if not r.success}
    if failed:
        again = _run_gx_once(df, replace(suite, expectations=tuple(e for e in suite.expectations
                                                                      if e.index in failed)), "SUMMARY")
        detailed = {r.expectation_config.meta[_INDEX_KEY]: r for r in again.results}
        results.results = [detailed.get(r.expectation_config.meta[_INDEX_KEY], r) for r in results.results]
    return results


def _run_gx_once(df: pd.DataFrame, suite: ContractSuite, result_format: str) -> Any:
    """One GX validation of ``df``: ``Batch.validate`` (GX's public API) with a suite that is not stored.
    A ``ValidationDefinition`` would also add the suite and itself to the context, check their freshness and
    store the result in memory: about a third of a run over a day's rows, for nothing we read."""
    from retrain.validation.gx_runtime import (
        import_gx,
        no_batch_fingerprint,
        one_configuration_per_kwargs_lookup,
        one_validation,
        whole_frame_batches,
    )

    gx = import_gx()
    no_batch_fingerprint()
    one_configuration_per_kwargs_lookup()
    gx_suite = gx.ExpectationSuite(
        name=suite.name, expectations=[e.to_gx(meta={_INDEX_KEY: e.index}) for e in suite.expectations]
    )
    batch = whole_frame_batches().get_batch(batch_parameters={"dataframe": df})
    with one_validation():
        return batch.validate(gx_suite, result_format={"result_format": result_format,
                                                       "partial_unexpected_count": 20})


# --- turning one GX result into words -------------------------------------------------------------


def _observed(
    exp: ContractExpectation, result: Any, *, rows: int, columns: set[str], dtypes: dict[str, str]
) -> str:
    missing = [c for c in exp.columns if c not in columns]
    errors = _exception_messages(result.exception_info)
    for match in filter(None, map(_MISSING_COLUMN.search, errors)):  # GX's own error for a missing column
        if match["column"] not in missing:
            missing.append(match["column"])
    if missing:
        return " and ".join(f"column '{c}' is missing" for c in missing) + " from the data"
    if errors:
        kinds = ", ".join(f"'{c}' has dtype {dtypes[c]}" for c in exp.columns if c in dtypes)
        where = f" ({kinds})" if kinds else ""
        return f"could not be evaluated{where}: {errors[0].strip().splitlines()[0][:300]}"

    details = result.result or {}
    if details.get("unexpected_count"):
        return _unexpected_values(exp, details, rows)
    if "observed_value" in details:
        observed = details["observed_value"]
        if exp.expect.endswith(("_in_type_list", "_of_type")) and exp.column in dtypes:
            observed = dtypes[exp.column]  # GX reports Int64's numpy scalar type ('int64'), not the dtype
        return _observed_value(exp, observed)
    expected = _expected_args(exp)
    return "failed" + (f" (expected {expected})" if expected else "")


def _exception_messages(info: Any) -> list[str]:
    """GX reports errors either flat ({raised_exception, exception_message, ...}) or per metric id."""
    if not isinstance(info, dict):
        return []
    entries: Iterable[Any] = (
        [info] if "exception_message" in info or "raised_exception" in info else info.values()
    )
    messages = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception", True) and entry.get("exception_message"):
            messages.append(str(entry["exception_message"]))
    return messages


def _unexpected_values(exp: ContractExpectation, details: dict[str, Any], rows: int) -> str:
    count = int(details["unexpected_count"])
    element_count = int(details.get("element_count") or rows)
    missing_count = int(details.get("missing_count") or 0)
    counted = element_count - missing_count
    noun = (
        "rows"
        if exp.expect.startswith(("column_pair_", "multicolumn_", "compound_", "select_column"))
        else "values"
    )
    if missing_count:
        noun = f"non-null {noun}"
    percent = details.get("unexpected_percent")
    if percent is None and counted:
        percent = 100.0 * count / counted
    text = f"{count} of {counted} {noun} ({_percent(percent)}) {_what_is_wrong(exp)}"
    if exp.expect not in ("column_values_to_not_be_null", "column_values_to_be_null"):
        samples = _distinct_samples(details.get("partial_unexpected_list") or [])
        if samples:
            text += f", e.g. {samples}"
    mostly = exp.kwargs.get("mostly")
    if isinstance(mostly, int | float) and mostly < 1:
        text += f" (at most {_number(round(100 * (1 - mostly), 4))}% allowed)"
    return text


def _what_is_wrong(exp: ContractExpectation) -> str:
    kw = exp.kwargs
    match exp.expect:
        case "column_values_to_be_between":
            return _outside(kw)
        case "column_values_to_be_in_set":
            return f"not in {_short_list(kw.get('value_set'))}"
        case "column_values_to_not_be_in_set":
            return f"in the forbidden set {_short_list(kw.get('value_set'))}"
        case "column_values_to_not_be_null":
            return "are null"
        case "column_values_to_be_null":
            return "are not null"
        case "column_values_to_be_unique" | "compound_columns_to_be_unique":
            return "are duplicates"
        case "column_values_to_match_regex":
            return f"do not match {kw.get('regex')!r}"
        case "column_values_to_not_match_regex":
            return f"match {kw.get('regex')!r}"
        case "column_values_to_be_increasing" | "column_values_to_be_decreasing":
            return f"are not {exp.expect.rsplit('_', 1)[-1]}"
        case "column_pair_values_a_to_be_greater_than_b":
            op = "<" if kw.get("or_equal") else "<="
            return f"have {kw.get('column_A')} {op} {kw.get('column_B')}"
        case "column_pair_values_to_be_equal":
            return f"have {kw.get('column_A')} != {kw.get('column_B')}"
    return "unexpected"


def _outside(kw: dict[str, Any]) -> str:
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None and high is not None:
        left = "(" if kw.get("strict_min") else "["
        right = ")" if kw.get("strict_max") else "]"
        return f"outside {left}{_number(low)}, {_number(high)}{right}"
    if low is not None:
        return f"{'at or ' if kw.get('strict_min') else ''}below {_number(low)}"
    return f"{'at or ' if kw.get('strict_max') else ''}above {_number(high)}"


def _observed_value(exp: ContractExpectation, value: Any) -> str:
    kw = exp.kwargs
    shown = _plain(value)
    if exp.expect == "column_values_to_be_in_type_list":
        return f"observed dtype {shown!r}, expected one of {_short_list(kw.get('type_list'))}"
    if exp.expect == "column_values_to_be_of_type":
        return f"observed dtype {shown!r}, expected {kw.get('type_')!r}"
    unit = " rows" if exp.expect.startswith("table_row_count") else ""
    if "min_value" in kw or "max_value" in kw:
        return f"observed {_number(shown)}{unit}, expected {_range(kw)}"
    if "value" in kw:
        return f"observed {_number(shown)}{unit}, expected {_number(kw['value'])}"
    expected = _expected_args(exp)
    return f"observed {shown!r}" + (f", expected {expected}" if expected else "")


def _range(kw: dict[str, Any]) -> str:
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    if low is not None:
        return f"{'more than' if kw.get('strict_min') else 'at least'} {_number(low)}"
    return f"{'less than' if kw.get('strict_max') else 'at most'} {_number(high)}"


def _expected_args(exp: ContractExpectation) -> str:
    skip = {"column", "column_A", "column_B", "column_list", "notes", "description"}
    return ", ".join(f"{k}={v!r}" for k, v in exp.kwargs.items() if k not in skip)


def _distinct_samples(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for raw in values:
        value = _plain(raw)
        if isinstance(value, float) and math.isnan(value):
            continue
        if value not in seen:
            seen.append(value)
        if len(seen) == _SAMPLES:
            break
    return seen


def _plain(value: Any) -> Any:
    """numpy and pandas scalars (and containers of them) as plain Python values, so messages read cleanly."""
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item") and not isinstance(value, str):
        try:
            return value.item()
        except (TypeError, ValueError):
            return str(value)
    if value is not None and not isinstance(value, str | int | float | bool):
        return str(value)
    return value


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _percent(value: float | None) -> str:
    if value is None:
        return "?%"
    if 0 < value < 0.01:
        return "<0.01%"
    if 99.99 < value < 100:
        return ">99.99%"
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def _short_list(values: Any, limit: int = 10) -> str:
    if not isinstance(values, list | tuple):
        return repr(values)
    items = [repr(v) if isinstance(v, str) else _number(v) for v in values[:limit]]
    more = f", ... {len(values) - limit} more" if len(values) > limit else ""
    return "[" + ", ".join(items) + more + "]"
