"""Expectation suites as YAML files that people review in a pull request.

Format (one file per data contract, under include/expectations/)::

    name: ecommerce_impressions          # lower_snake_case
    description: optional free text
    expectations:
      - expect: column_values_to_be_between   # GX Core expectation name WITHOUT the "expect_" prefix
        column: price                         # every key other than expect/severity goes to the GX class
        min_value: 0
        max_value: 100000
        severity: block                       # block (default): stops promotion; warn: only reported

``expect`` is the GX expectation's snake_case name without its ``expect_`` prefix, so the class
``ExpectColumnValuesToBeBetween`` (type ``expect_column_values_to_be_between``) is written
``column_values_to_be_between``. The full name is rejected with a hint, so every file reads the same way.
The remaining keys are checked against the GX class's own (pydantic) model when the suite is loaded, so a
typo fails at load time with ``SpecError`` naming the file and ``expectations[i].field``, not mid-run.
``notes`` and ``description`` are accepted and show up in GX's Data Docs; the GX machinery fields
(``id``, ``meta``, ``result_format``, ``catch_exceptions``, ...) are not.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retrain.errors import SpecError
from retrain.validation.checks import CustomCheck

# A suite may list large value sets (every store id), so its limits are far above a spec's, and still bound
# what a file can make a worker do (a YAML alias bomb expands to billions of values when walked).
MAX_SUITE_BYTES = 8 * 1024 * 1024
MAX_SUITE_VALUES = 1_000_000

Severity = Literal["block", "warn"]

# How our severities show up in GX's own results and Data Docs.
_GX_SEVERITY: dict[str, str] = {"block": "critical", "warn": "warning"}

# Keys that name the column(s) an expectation reads; used to report a missing column plainly.
_COLUMN_KEYS = ("column", "column_A", "column_B")
_COLUMN_LIST_KEYS = ("column_list",)


class _EntryFile(BaseModel):
    """One list item as written in YAML: ``expect``, ``severity``, and the GX arguments as extras."""

    model_config = ConfigDict(extra="allow", frozen=True)

    expect: str = Field(min_length=1)
    severity: Severity = "block"


class _SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,126}$")
    description: str = ""
    expectations: list[_EntryFile] = Field(min_length=1)
    checks: list[CustomCheck] = Field(default_factory=list)  # retrain-specific checks (validation/checks.py)


@dataclass(frozen=True)
class ContractExpectation:
    """One checked expectation of a suite."""

    index: int  # position in the suite file, as in "expectations[3]"
    expect: str  # name without the "expect_" prefix, e.g. "column_values_to_be_between"
    kwargs: dict[str, Any]  # arguments for the GX class, as written in the file
    severity: Severity = "block"

    @property
    def gx_type(self) -> str:
        """GX's name for the expectation, e.g. ``expect_column_values_to_be_between``."""
        return f"expect_{self.expect}"

    @property
    def columns(self) -> list[str]:
        """Columns this expectation reads, in the order the file names them."""
        found = [self.kwargs[k] for k in _COLUMN_KEYS if isinstance(self.kwargs.get(k), str)]
        for key in _COLUMN_LIST_KEYS:
            found.extend(c for c in self.kwargs.get(key) or [] if isinstance(c, str))
        return found

    @property
    def column(self) -> str | None:
        """The column to name in messages (``"a, b"`` for pair expectations), or None for table-level ones."""
        return ", ".join(self.columns) or None

    def to_gx(self, *, meta: dict[str, Any] | None = None) -> Any:
        """The GX Core expectation object (imports GX)."""
        from retrain.validation.gx_runtime import expectation_classes

        cls = expectation_classes()[self.expect]
        kwargs = self.kwargs
        if self.expect in ("column_values_to_be_in_type_list", "column_values_to_be_of_type"):
            kwargs = _gx_dtype_names(kwargs)
        return cls(**kwargs, severity=_GX_SEVERITY[self.severity], meta=meta or {})


# pandas nullable dtypes as people write them (``str(series.dtype)``) -> the name GX's pandas check resolves:
# GX looks ``Int64`` up as ``np.dtype`` or ``pd.Int64`` (neither exists) and finds nothing, so a nullable
# ``Int64`` column failed even with ``Int64`` listed; ``pd.Int64Dtype`` is the class it can compare.
_NULLABLE_DTYPES = {name: f"{name}Dtype" for name in (
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64")}
_NULLABLE_DTYPES["boolean"] = "BooleanDtype"


def _gx_dtype_names(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if isinstance(out.get("type_list"), list):
        out["type_list"] = [_NULLABLE_DTYPES.get(t, t) for t in out["type_list"]]
    if isinstance(out.get("type_"), str):
        out["type_"] = _NULLABLE_DTYPES.get(out["type_"], out["type_"])
    return out


@dataclass(frozen=True)
class ContractSuite:
    """A data contract loaded from YAML: a name and a list of checked expectations."""

    name: str
    path: Path
    sha256: str
    expectations: tuple[ContractExpectation, ...] = field(default_factory=tuple)
    description: str = ""
    checks: tuple[CustomCheck, ...] = field(default_factory=tuple)

    @property
    def blocking(self) -> tuple[ContractExpectation, ...]:
        return tuple(e for e in self.expectations if e.severity == "block")


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item != "__root__":
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<root>"


def _pydantic_message(err: Any) -> str:
    if err["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping with an 'expect' key, like {expect: column_to_exist, column: price}"
    return err["msg"]


def _check_entry(index: int, entry: _EntryFile) -> tuple[ContractExpectation | None, list[tuple[str, str]]]:
    """Check one entry against the GX class it names. Returns the expectation or (field, problem) pairs."""
    from retrain.validation.gx_runtime import INTERNAL_FIELDS, expectation_classes, user_fields

    where = f"expectations[{index}]"
    known = expectation_classes()
    expect = entry.expect
    if expect.startswith("expect_") and expect.removeprefix("expect_") in known:
        hint = expect.removeprefix("expect_")
        return None, [(f"{where}.expect", f"write {hint!r}, without the 'expect_' prefix")]
    if expect not in known:
        close = difflib.get_close_matches(expect, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, [(f"{where}.expect", f"unknown expectation {expect!r}{hint}")]

    cls = known[expect]
    kwargs = dict(entry.model_extra or {})
    reserved = sorted(k for k in kwargs if k in INTERNAL_FIELDS)
    if reserved:
        return None, [
            (f"{where}.{k}", "is set by the pipeline and may not appear in a suite file") for k in reserved
        ]

    from great_expectations.compatibility.pydantic import ValidationError as GxValidationError

    try:
        cls(**kwargs)
    except GxValidationError as exc:
        problems: dict[str, str] = {}
        for err in exc.errors():
            loc = _field_path(tuple(err["loc"]))
            path = where if loc == "<root>" else f"{where}.{loc}"
            if path in problems:
                continue  # a Union field reports one error per member type; the first one reads best
            message = err["msg"]
            if err["type"] == "value_error.extra":
                message = f"not an argument of {cls.__name__} (arguments: {', '.join(user_fields(cls))})"
            problems[path] = message
        if len(problems) > 1:  # a model-level complaint after a bad field is usually a consequence of it
            problems.pop(where, None)
        return None, list(problems.items())
    except (TypeError, ValueError) as exc:
        return None, [(where, f"invalid arguments for {cls.__name__}: {str(exc).splitlines()[0]}")]
    return ContractExpectation(index=index, expect=expect, kwargs=kwargs, severity=entry.severity), []


def load_suite(path: str | Path) -> ContractSuite:
    """Read and check a suite file. Any problem raises SpecError naming the file and the field."""
    from retrain.config import YAML_LOADER, too_many_nodes

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise SpecError(f"{path}: expectation suite is {size} bytes, more than {MAX_SUITE_BYTES}", path=str(path))
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read expectation suite: {exc.strerror}", path=str(path)) from None
    try:
        raw = yaml.load(raw_bytes, Loader=YAML_LOADER)  # the specs' safe loader: no python tags
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}", path=str(path)) from None
    if too_many_nodes(raw, MAX_SUITE_VALUES):  # an alias bomb: validating it would walk every expanded value
        raise SpecError(f"{path}: expectation suite expands to more than {MAX_SUITE_VALUES} values (YAML aliases?)",
                        path=str(path))
    if not isinstance(raw, dict):
        raise SpecError(
            f"{path}: an expectation suite must be a YAML mapping with 'name' and 'expectations', "
            f"got {type(raw).__name__}",
            path=str(path),
        )
    try:
        parsed = _SuiteFile.model_validate(raw)
    except ValidationError as exc:
        problems = [(_field_path(err["loc"]), _pydantic_message(err)) for err in exc.errors()]
        _raise(path, problems)

    expectations: list[ContractExpectation] = []
    problems: list[tuple[str, str]] = []
    for index, entry in enumerate(parsed.expectations):
        checked, entry_problems = _check_entry(index, entry)
        problems.extend(entry_problems)
        if checked is not None:
            expectations.append(checked)
    if problems:
        _raise(path, problems)
    return ContractSuite(
        name=parsed.name,
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        expectations=tuple(expectations),
        description=parsed.description,
        checks=tuple(parsed.checks),
    )


def _raise(path: Path, problems: list[tuple[str, str]]) -> NoReturn:
    text = "; ".join(f"field '{where}': {message}" for where, message in problems)
    raise SpecError(
        f"{path}: invalid expectation suite: {text}", path=str(path), fields=[where for where, _ in problems]
    ) from None
