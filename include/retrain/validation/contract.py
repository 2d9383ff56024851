"""Run a contract suite on a data frame and turn GX's result into messages people can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from retrain.errors import DataContractError
from retrain.validation.suite import ContractExpectation, ContractSuite

_ARGS_SHOWN = ("min_value", "max_value", "value_set", "type_list", "regex")


@dataclass(frozen=True)
class ExpectationFailure:
    expectation: str
    column: str | None
    severity: str
    observed: str

    def describe(self) -> str:
        where = f" on column '{self.column}'" if self.column else ""
        return f"{self.expectation}{where}: {self.observed}"


@dataclass(frozen=True)
class ValidationReport:
    suite: str
    partition: str
    rows: int
    evaluated: int
    failures: list[ExpectationFailure] = field(default_factory=list)

    @property
    def blocking(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.severity == "block"]

    @property
    def warnings(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.severity == "warn"]

    @property
    def success(self) -> bool:
        return not self.blocking

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "partition": self.partition,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "success": self.success,
            "failures": [asdict(f) for f in self.failures],
        }

    def raise_for_blocking(self) -> None:
        if self.success:
            return
        details = "; ".join(f.describe() for f in self.blocking)
        raise DataContractError(
            f"Data contract '{self.suite}' failed on {self.partition}: {details}",
            failures=[asdict(f) for f in self.blocking],
        )


def _columns(exp: ContractExpectation) -> list[str]:
    return [exp.kwargs[k] for k in ("column", "column_A", "column_B") if k in exp.kwargs]


def _plain(value: Any) -> Any:
    """numpy scalars and tuples of them as plain Python values, so messages read cleanly."""
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") else value


def _expected(exp: ContractExpectation) -> str:
    shown = {k: exp.kwargs[k] for k in _ARGS_SHOWN if k in exp.kwargs}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def _observed(exp: ContractExpectation, result: Any, rows: int) -> str:
    info = result.exception_info or {}
    if isinstance(info, dict) and info.get("raised_exception") is False:
        info = {}
    if info:
        messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict)] or [info.get("exception_message")]
        first = next((m for m in messages if m), "error while evaluating")
        return f"could not be evaluated ({str(first).splitlines()[0][:200]})"
    details = result.result or {}
    expected = _expected(exp)
    suffix = f" (expected {expected})" if expected else ""
    count = details.get("unexpected_count")
    if count:
        percent = details.get("unexpected_percent") or 0.0
        sample = [_plain(v) for v in (details.get("partial_unexpected_list") or [])[:5]]
        return f"{count} of {rows} values ({percent:.3g}%) unexpected{suffix}, e.g. {sample}"
    if "observed_value" in details and details["observed_value"] is not None:
        return f"observed {details['observed_value']!r}{suffix}"
    return f"failed{suffix}"


def validate_frame(frame, suite: ContractSuite, *, partition: str) -> ValidationReport:
    """Validate ``frame`` (pandas) against ``suite`` in one GX run. Never raises for bad data."""
    import great_expectations as gx

    from retrain.validation.gx_runtime import ephemeral_batch_definition

    failures: list[ExpectationFailure] = []
    runnable: list[ContractExpectation] = []
    for exp in suite.expectations:
        missing = [c for c in _columns(exp) if c not in frame.columns]
        if missing:
            failures.append(ExpectationFailure(exp.gx_name, exp.column, exp.severity,
                                               f"column '{missing[0]}' is missing from the data"))
        else:
            runnable.append(exp)

    batch_definition = ephemeral_batch_definition()  # creates the GX context the suite below belongs to
    gx_suite = gx.ExpectationSuite(name=suite.name)
    for index, exp in enumerate(runnable):
        cls = getattr(gx.expectations, "".join(p.capitalize() for p in exp.gx_name.split("_")))
        gx_suite.add_expectation(cls(**exp.kwargs, meta={"index": index}))
    if runnable:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(gx_suite, result_format="SUMMARY")
        for item in result.results:
            if item.success:
                continue
            exp = runnable[item.expectation_config.meta["index"]]
            failures.append(ExpectationFailure(exp.gx_name, exp.column, exp.severity,
                                               _observed(exp, item, len(frame))))
    return ValidationReport(
        suite=suite.name, partition=partition, rows=len(frame), evaluated=len(suite.expectations), failures=failures
    )
