"""Errors the pipeline raises on purpose.

``DeterministicFailure`` subclasses fail the Airflow task at once (see retrain.orchestration.retries):
retrying cannot fix a broken spec, a broken data contract, stale or unreadable data.
Anything else is treated as transient and retried with exponential backoff.
"""

from __future__ import annotations


class RetrainError(Exception):
    """Base class for errors raised by this package."""


class DeterministicFailure(RetrainError):
    """A failure that the same inputs will reproduce; retrying is pointless."""


class SpecError(DeterministicFailure):
    def __init__(self, message: str, *, path: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.fields = fields or []


class StaleDataError(DeterministicFailure):
    """The newest complete partition is too old or too small to retrain on."""


class DataReadError(DeterministicFailure):
    """A partition file cannot be read (corrupt, truncated, missing column)."""


class DataContractError(DeterministicFailure):
    """A blocking expectation of the data contract failed."""

    def __init__(self, message: str, *, failures: list[dict] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class GpuUnavailableError(DeterministicFailure):
    """The spec requires a GPU and this worker has none."""
