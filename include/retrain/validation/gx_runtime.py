"""Great Expectations plumbing, kept in one place: a quiet import, the expectation registry, a context.

Nothing here is imported by ``retrain.validation`` at module import time; every function imports GX
(about four seconds) when first called, so DAG files that reference the package still parse fast.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Iterator
from typing import Any

# GX logs about 200 "Skipping registering function ..." lines at INFO while it imports, and one of its
# modules (data_context.types.base) pins its own logger to INFO, so raising the parent alone is not enough.
_GX_LOGGER = "great_expectations"
_GX_LOGGERS_PINNED_TO_INFO = ("great_expectations.data_context.types.base",)

# Fields every GX expectation has that belong to the machinery, not to a suite file.
INTERNAL_FIELDS = frozenset(
    {"id", "meta", "result_format", "catch_exceptions", "rendered_content", "batch_id", "windows", "severity"}
)


def quiet_gx_logging() -> None:
    """Raise GX's loggers to WARNING, unless someone has already set the parent logger's level."""
    parent = logging.getLogger(_GX_LOGGER)
    if parent.level == logging.NOTSET:
        parent.setLevel(logging.WARNING)
    for name in _GX_LOGGERS_PINNED_TO_INFO:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def import_gx() -> Any:
    """``import great_expectations`` without its import-time log noise. Returns the module."""
    quiet_gx_logging()
    import great_expectations as gx

    quiet_gx_logging()  # again: importing GX pinned some of its loggers back to INFO
    return gx


@functools.cache
def expectation_classes() -> dict[str, type]:
    """Every GX Core expectation class, keyed by its name without the ``expect_`` prefix."""
    gx = import_gx()
    from great_expectations.expectations.expectation import Expectation

    found: dict[str, type] = {}
    for attr in dir(gx.expectations):
        cls = getattr(gx.expectations, attr)
        if isinstance(cls, type) and issubclass(cls, Expectation):
            kind = getattr(cls, "expectation_type", "")
            if kind.startswith("expect_"):
                found[kind.removeprefix("expect_")] = cls
    return found


def user_fields(cls: type) -> list[str]:
    """The arguments a suite file may give an expectation class (its pydantic fields, less the machinery)."""
    return [name for name in cls.__fields__ if name not in INTERNAL_FIELDS]


def ephemeral_context() -> Any:
    """An in-memory GX Data Context with progress bars off (they would land in every task log)."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def whole_frame_batches() -> Any:
    """A batch definition of a whole pandas frame in a new in-memory context (about 35 ms to set up)."""
    return (ephemeral_context().data_sources.add_pandas("retrain").add_dataframe_asset(name="frame")
            .add_batch_definition_whole_dataframe("whole_frame"))


# The GX release the patch below was read against and checked on (tests/retrain/validation/test_gx_runtime.py).
KWARGS_PATCH_CHECKED_ON = "1.24.1"
GX_OWN_KWARGS: dict[str, Any] = {}  # GX's own methods, kept for that test


@functools.cache
def one_configuration_per_kwargs_lookup() -> bool:
    """GX 1.24 rebuilds an expectation's whole configuration (a pydantic ``dict()`` and a new
    ``ExpectationConfiguration``) for every key of ``_get_domain_kwargs`` and ``_get_success_kwargs``, which
    the validator calls a few times per expectation per metric: a quarter of a validation's CPU. These
    versions build it once per call and return the same dicts. Applied only on the release they were
    checked on; any other runs GX's own code. Returns whether they are in place."""
    gx = import_gx()
    if gx.__version__ != KWARGS_PATCH_CHECKED_ON:
        return False
    from great_expectations.expectations.expectation import Expectation

    def domain_kwargs(self) -> dict[str, Any]:
        given = self.configuration.kwargs
        return {key: given.get(key, self._get_default_value(key)) for key in self.domain_keys}

    def success_kwargs(self) -> dict[str, Any]:
        given = self.configuration.kwargs
        found = {key: given.get(key, self._get_default_value(key)) for key in self.success_keys}
        found.update({key: given.get(key, self._get_default_value(key)) for key in self.domain_keys})
        return found

    GX_OWN_KWARGS.update(domain=Expectation._get_domain_kwargs, success=Expectation._get_success_kwargs)
    Expectation._get_domain_kwargs = domain_kwargs
    Expectation._get_success_kwargs = success_kwargs
    return True


_BUILT: contextvars.ContextVar[tuple[dict, dict] | None] = contextvars.ContextVar("retrain_gx_built", default=None)
_PLAIN = (str, int, float, bool, type(None))


def _plain_key(value: Any) -> Any:
    """A hashable key equal only for equal plain JSON values (None when ``value`` holds anything else)."""
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        items = tuple(_plain_key(v) for v in value)
        return None if None in items else (type(value), items)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = tuple((k, _plain_key(v)) for k, v in value.items())
        return None if any(v is None for _, v in items) else (dict, items)
    return None


@functools.cache
def built_once_per_validation() -> bool:
    """GX 1.24 rebuilds an expectation's ``configuration`` (pydantic ``dict()``, a new
    ``ExpectationConfiguration``) every time the validator reads it, dozens of times per expectation per run,
    and hashes every metric's kwargs (``IDDict.to_id``: a recursive JSON conversion, ``json.dumps``, md5)
    for each of the hundreds of metric configurations it builds: together a third of a validation's CPU on
    a day's rows. Inside ``one_validation()`` these versions build each expectation's configuration once and
    each id once per distinct plain kwargs; outside, and on any other GX release, GX's own code runs.
    Returns whether they are in place."""
    gx = import_gx()
    if gx.__version__ != KWARGS_PATCH_CHECKED_ON:
        return False
    from great_expectations.core.id_dict import IDDict
    from great_expectations.expectations.expectation import Expectation

    own_configuration, own_to_id = Expectation.configuration.fget, IDDict.to_id

    def configuration(self) -> Any:
        built = _BUILT.get()
        if built is None:
            return own_configuration(self)
        found = built[0].get(id(self))
        if found is None or found[0] is not self:  # the memo holds the object, so its id is not reused
            found = built[0][id(self)] = (self, own_configuration(self))
        return found[1]

    def to_id(self, id_keys=None, id_ignore_keys=None) -> Any:
        built = _BUILT.get()
        plain = None if built is None or id_keys is not None or id_ignore_keys is not None else _plain_key(self)
        if plain is None:
            return own_to_id(self, id_keys, id_ignore_keys)
        key = (type(self), plain)
        if key not in built[1]:
            built[1][key] = own_to_id(self)
        return built[1][key]

    GX_OWN_KWARGS.update(configuration=own_configuration, to_id=own_to_id)
    Expectation.configuration = property(configuration)
    IDDict.to_id = to_id
    return True


@contextlib.contextmanager
def one_validation() -> Iterator[None]:
    """The scope of ``built_once_per_validation`` (nothing mutates an expectation while GX validates a batch;
    tests/retrain/validation/test_gx_runtime.py compares whole results with GX's own)."""
    built_once_per_validation()
    token = _BUILT.set(({}, {}))
    try:
        yield
    finally:
        _BUILT.reset(token)


def no_batch_fingerprint() -> None:
    """Turn off GX's fingerprint of a pandas batch: an md5 of ``hash_pandas_object`` over the whole frame,
    computed on every validation of a frame under 1 GB (about 1 s per 1,000,000 demo rows, a third of a
    BASIC validation). Only GX's batch markers carry it; partitions have their own fingerprint."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0
