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


class PathNotAllowedError(DeterministicFailure, ValueError):
    """A spec, or a file in a partition, points outside the folders it may read; see docs/security.md."""


class StaleDataError(DeterministicFailure):
    """The newest complete partition is too old or too small to retrain on.

    The keyword attributes say the same as the message, structured for alerts; any may be None.
    ``reason`` is one of ``"no_partition"``, ``"too_old"``, ``"empty"``, ``"too_few_rows"``,
    ``"incomplete_partition"``.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        dataset: str | None = None,
        newest_partition: str | None = None,
        as_of: str | None = None,
        age_hours: float | None = None,
        max_age_hours: float | None = None,
        rows: int | None = None,
        min_rows: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.dataset = dataset
        self.newest_partition = newest_partition
        self.as_of = as_of
        self.age_hours = age_hours
        self.max_age_hours = max_age_hours
        self.rows = rows
        self.min_rows = min_rows


class DataReadError(DeterministicFailure):
    """A partition file cannot be read (corrupt, truncated, missing column)."""


class DataChangedError(DataReadError):
    """A file of the run's snapshot was rewritten or removed after check_freshness hashed it."""


class PartitionsIncompatibleError(DataReadError):
    """The partitions' files cannot be read as one table: a column holds different kinds of values."""


class DataContractError(DeterministicFailure):
    """A blocking expectation of the data contract failed."""

    def __init__(
        self, message: str, *, failures: list[dict] | None = None, data_docs_url: str | None = None
    ) -> None:
        super().__init__(message)
        self.failures = failures or []
        self.data_docs_url = data_docs_url
        """Where the validation result can be read in GX Data Docs, when they were built."""


class GpuUnavailableError(DeterministicFailure):
    """The spec requires a GPU and this worker has none."""


class ArtifactIntegrityError(DeterministicFailure):
    """A model version's files do not match (or cannot be matched with) the digests recorded at training."""


class UnusableModelError(RetrainError):
    """A model version that this installed package cannot load (bundle format, weights that are not tensors)."""


class OverBudgetError(DeterministicFailure):
    """Training reached ``resources.max_minutes`` or ``resources.max_cost_usd`` and stopped at an epoch
    boundary; its checkpoint is kept and logged. Not retried: the same budget would stop it again."""

    def __init__(self, message: str, *, run_id: str | None = None, epochs_done: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.epochs_done = epochs_done
