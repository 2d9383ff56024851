"""Expectation suites as reviewable YAML.

    name: ecommerce_impressions
    expectations:
      - expect: column_values_to_be_between   # a GX Core expectation, without the "expect_" prefix
        column: price
        min_value: 0.01
        severity: block                       # block (default) stops promotion; warn is only reported

Every key other than ``expect`` and ``severity`` is passed to the GX expectation class, which checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from retrain.errors import SpecError

Severity = Literal["block", "warn"]


@dataclass(frozen=True)
class ContractExpectation:
    expect: str  # snake_case name without the "expect_" prefix
    kwargs: dict[str, Any]
    severity: Severity = "block"

    @property
    def gx_name(self) -> str:
        return f"expect_{self.expect}"

    @property
    def column(self) -> str | None:
        if "column" in self.kwargs:
            return self.kwargs["column"]
        pair = [self.kwargs[k] for k in ("column_A", "column_B") if k in self.kwargs]
        return ", ".join(pair) or None


@dataclass(frozen=True)
class ContractSuite:
    name: str
    path: Path
    expectations: list[ContractExpectation] = field(default_factory=list)


def _gx_class(expect: str):
    import great_expectations as gx  # noqa: F401  (registers the expectation classes)
    from great_expectations import expectations

    class_name = "".join(part.capitalize() for part in f"expect_{expect}".split("_"))
    return getattr(expectations, class_name, None)


def load_suite(path: str | Path) -> ContractSuite:
    """Read and check a suite file. Problems raise SpecError naming the file and the expectation."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecError(f"{path}: cannot read expectation suite: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}", path=str(path)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SpecError(f"{path}: a suite is a mapping with a 'name' and a list of 'expectations'", path=str(path))
    items = raw.get("expectations")
    if not isinstance(items, list) or not items:
        raise SpecError(f"{path}: field 'expectations' must be a non-empty list", path=str(path), fields=["expectations"])
    from retrain.validation.gx_runtime import quiet_gx

    quiet_gx()
    expectations = []
    for index, item in enumerate(items):
        where = f"expectations[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("expect"), str):
            raise SpecError(f"{path}: {where}: needs an 'expect' name", path=str(path), fields=[where])
        kwargs = {k: v for k, v in item.items() if k not in ("expect", "severity")}
        expect = item["expect"].removeprefix("expect_")
        severity = item.get("severity", "block")
        if severity not in ("block", "warn"):
            raise SpecError(f"{path}: {where}.severity: must be 'block' or 'warn', got {severity!r}",
                            path=str(path), fields=[f"{where}.severity"])
        cls = _gx_class(expect)
        if cls is None:
            raise SpecError(f"{path}: {where}.expect: unknown expectation 'expect_{expect}'",
                            path=str(path), fields=[f"{where}.expect"])
        try:
            cls(**kwargs)
        except Exception as exc:  # pydantic validation inside GX
            first = str(exc).splitlines()
            raise SpecError(f"{path}: {where} (expect_{expect}): invalid arguments: {' '.join(first[:3])}",
                            path=str(path), fields=[where]) from None
        expectations.append(ContractExpectation(expect=expect, kwargs=kwargs, severity=severity))
    return ContractSuite(name=raw["name"], path=path, expectations=expectations)
