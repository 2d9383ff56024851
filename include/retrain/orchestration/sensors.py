"""Waiting for data without holding a worker: the freshness check and the landing sensor.

Both check once on the worker. When the data is there they finish at once; when it is late they *defer*:
the task gives its worker slot back and a :class:`~retrain.orchestration.triggers.PartitionMarkerTrigger`
polls the landing zone on the triggerer until a completion marker lands or the wait runs out. Then the
task resumes on a worker, checks again and either continues or fails as stale data (``StaleDataError``,
not retried, alerted to Slack by the failure callback).

How long to wait is the spec's ``data.freshness.wait_minutes``; how often the trigger looks is
``RETRAIN_SENSOR_POLL_SECONDS`` (default 60).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from retrain.config import LoadedSpec
from retrain.errors import StaleDataError

log = logging.getLogger(__name__)

# Airflow's own trigger timeout is only a safety net behind the trigger's deadline event.
_TIMEOUT_GRACE = timedelta(minutes=5)


def poll_seconds() -> float:
    from retrain.settings import get_settings

    return get_settings().sensor_poll_seconds


def run_type(context) -> str:
    value = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(value, "value", value) or "unknown")


def interval_as_of(context) -> datetime:
    """The end of the day asked for in the trigger form (``params.as_of``), else the end of the run's data
    interval, else its logical date, else when it was queued (asset runs)."""
    from retrain.orchestration.run_params import choices_from_context

    requested = choices_from_context(context).as_of_point()
    if requested is not None:
        return requested
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if value is not None:
            return value
    return context["dag_run"].run_after


def arrival_point(context, location: str, prefix: str = "dt=") -> tuple[datetime, date | None]:
    """What a run trains as of, and the partition it must have (for runs triggered by data events).

    A run triggered by asset events that name partitions trains as of the end of the newest announced day,
    and needs that day complete; reruns therefore read the same partitions. Any other run trains as of its
    data interval (see :func:`interval_as_of`).
    """
    from retrain.assets import dataset_asset_uri
    from retrain.data.arrival import announced_days
    from retrain.data.freshness import partition_end

    uri = dataset_asset_uri(location)
    events = getattr(context.get("dag_run"), "consumed_asset_events", None) or []
    days = announced_days([e.extra for e in events if e.asset.uri == uri], prefix)
    if days:
        return partition_end(days[-1]), days[-1]
    return interval_as_of(context), None


_STALE_ATTRS = ("reason", "dataset", "newest_partition", "as_of", "age_hours", "max_age_hours", "rows", "min_rows")


def _stale(message: str, **attrs: Any) -> StaleDataError:
    """StaleDataError with structured attributes for the Slack alert, where the error class takes them."""
    try:
        return StaleDataError(message, **attrs)
    except TypeError:
        return StaleDataError(message)


def _restated(error: StaleDataError, message: str) -> StaleDataError:
    """The same StaleDataError (attributes kept) with a new message."""
    return _stale(message, **{k: getattr(error, k) for k in _STALE_ATTRS if hasattr(error, k)})


def _stale_after_wait(error: StaleDataError, minutes: float, since: str | None) -> StaleDataError:
    """The last freshness problem, restated as the reason the run ends: the data did not arrive in time."""
    waited = f"waited {minutes:g} min (since {since})" if since else f"waited at least {minutes:g} min"
    return _restated(
        error,
        f"stale data: {waited} and the data did not arrive; no model is trained or promoted in this run. "
        f"Last check: {error}",
    )


class FreshDataSensor(BaseOperator):
    """``check_freshness``: the data snapshot to train on, waiting (deferred) for late data.

    Returns the snapshot (a small dict) as its XCom. A scheduled, backfill or asset-triggered run whose
    snapshot this spec has already been trained on is skipped (``AirflowSkipException``: downstream is
    skipped, the run succeeds, nothing is trained twice). Manual runs always train.
    """

    ui_color = "#dbeafe"

    def __init__(self, *, loaded: LoadedSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded

    # -- the check --------------------------------------------------------------------------------------

    def _target(self, context) -> tuple[datetime, date | None]:
        data = self.loaded.spec.data
        return arrival_point(context, data.location, data.partition_prefix)

    def _select(self, context) -> dict:
        from retrain.pipeline.data_stages import check_freshness

        as_of, required_day = self._target(context)
        return check_freshness(self.loaded, as_of, required_day)

    def execute(self, context) -> dict:
        _, required_day = self._target(context)
        if required_day is not None:
            self.log.info("triggered by data events; training as of the end of partition %s", required_day)
        try:
            snapshot = self._select(context)
        except StaleDataError as error:
            self._defer_or_raise(context, error, deadline=None, since=None)
        return self._not_trained_yet(context, snapshot)

    def execute_complete(
        self, context, event: dict | None = None, deadline: str | None = None, since: str | None = None
    ) -> dict:
        from retrain.orchestration.triggers import ARRIVED

        status = (event or {}).get("status")
        if status == ARRIVED:
            self.log.info("completion marker %s landed; checking freshness again", event.get("marker"))
        try:
            snapshot = self._select(context)
        except StaleDataError as error:
            self._defer_or_raise(context, error, deadline=deadline, since=since)
        return self._not_trained_yet(context, snapshot)

    def resume_execution(self, next_method: str, next_kwargs: dict | None, context):
        from airflow.sdk.exceptions import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            # Airflow's safety-net timeout fired before the trigger's own deadline event (e.g. no triggerer was
            # running): the data may have landed meanwhile, so look once more before calling it stale.
            since = (next_kwargs or {}).get("since")  # Airflow replaces the kwargs on its timeout
            try:
                snapshot = self._select(context)
            except StaleDataError as error:
                from retrain.orchestration.run_params import choices_from_context

                wait = choices_from_context(context).effective_wait_minutes(self.loaded.spec)
                raise _stale_after_wait(error, wait, since) from None
            return self._not_trained_yet(context, snapshot)

    # -- waiting ----------------------------------------------------------------------------------------

    def _defer_or_raise(self, context, error: StaleDataError, deadline: str | None, since: str | None):
        from retrain.data.freshness import LATE_REASONS, awaited_markers
        from retrain.orchestration.run_params import choices_from_context
        from retrain.orchestration.triggers import PartitionMarkerTrigger
        from retrain.settings import get_settings

        spec = self.loaded.spec
        choices = choices_from_context(context)
        wait = choices.effective_wait_minutes(spec)
        if getattr(error, "reason", None) not in LATE_REASONS:
            raise error  # the data is there and complete, just not good enough: waiting cannot help
        as_of, required_day = self._target(context)
        dataset_dir = get_settings().resolve_data_path(spec.data.location)
        markers = awaited_markers(spec.data, dataset_dir, as_of, required_day)
        now = datetime.now(UTC)
        if deadline is None:
            if wait <= 0 or not markers:
                why = ("no partition young enough can still land" if wait > 0 else
                       "this run's wait_minutes is 0" if choices.wait_minutes is not None
                       else "data.freshness.wait_minutes is 0")
                raise _restated(error, f"{error} (not waiting: {why})")
            deadline, since = (now + timedelta(minutes=wait)).isoformat(), now.isoformat(timespec="seconds")
        remaining = datetime.fromisoformat(deadline) - now
        if remaining <= timedelta(0):
            raise _stale_after_wait(error, wait, since)
        self.log.warning(
            "%s. Waiting up to %s on the triggerer (worker slot released) for %s",
            error, str(remaining).split(".")[0], ", ".join(_short(m) for m in markers),
        )
        self.defer(
            trigger=PartitionMarkerTrigger([str(m) for m in markers], deadline, poll_seconds()),
            method_name="execute_complete",
            kwargs={"deadline": deadline, "since": since},
            timeout=remaining + _TIMEOUT_GRACE,
        )

    # -- duplicates -------------------------------------------------------------------------------------

    def _not_trained_yet(self, context, snapshot: dict) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from retrain.pipeline.data_stages import find_run_on_same_data

        previous = find_run_on_same_data(self.loaded, snapshot)
        if previous is None:
            return snapshot
        what = (
            f"{self.loaded.spec.name} was already trained on this data (window up to {snapshot['newest_partition']}, "
            f"{snapshot['total_rows']} rows, fingerprint {snapshot['fingerprint'][:12]}) with this spec: "
            f"MLflow run {previous['mlflow_run_id']} (Airflow run {previous['airflow_run_id']}, gate decision "
            f"{previous['gate_decision']}, version {previous['version']})"
        )
        from retrain.orchestration.run_params import choices_from_context

        kind = run_type(context)
        if kind == "manual" and not choices_from_context(context).retrain_seen_data:
            message = (
                f"nothing new to train on: {what}. This manual run asked not to retrain on data seen before "
                f"(retrain_seen_data off), so it is skipped"
            )
            self.log.warning(message)
            raise AirflowSkipException(message)
        if kind == "manual":
            self.log.warning("%s; this is a manual run, so it retrains anyway", what)
            return snapshot
        message = (
            f"nothing new to train on: {what}. This {kind} run is skipped, nothing is trained twice; "
            f"trigger the DAG manually to retrain on the same data anyway"
        )
        self.log.warning(message)  # Airflow logs a skip as "Skipping task." without the reason
        from retrain.tracking.costs import record_avoided

        record_avoided(self.loaded.spec.name, "data_seen_before", getattr(context.get("ti"), "dag_id", ""),
                       str(context.get("run_id", "")), what)
        raise AirflowSkipException(message)


def _short(marker: str | Path) -> str:
    path = Path(marker)
    return f"{path.parent.name}/{path.name}"


def requested_day(context, prefix: str = "dt=") -> date:
    """The partition a landing run is about: ``params.day``, else the day before the run's logical time."""
    from retrain.data.landing import parse_partition_day

    value = (context.get("params") or {}).get("day")
    if value:
        return parse_partition_day(str(value), prefix)
    return (interval_as_of(context).astimezone(UTC) - timedelta(days=1)).date()


class PartitionLandedSensor(BaseOperator):
    """``wait_for_partition`` in a landing DAG: done once the day's completion marker exists.

    Waits (deferred) up to ``params.wait_minutes``; then fails with ``StaleDataError``: the partition stays
    unannounced, so no model run is triggered by it.
    """

    ui_color = "#dbeafe"

    def __init__(self, *, location: str, prefix: str = "dt=", marker: str = "_SUCCESS", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.location, self.prefix, self.marker = location, prefix, marker

    def _marker_path(self, context) -> tuple[date, Path]:
        from retrain.data.landing import partition_folder
        from retrain.settings import get_settings

        day = requested_day(context, self.prefix)
        folder = partition_folder(get_settings().resolve_data_path(self.location), day, self.prefix)
        return day, folder / self.marker

    def execute(self, context) -> str:
        from retrain.orchestration.triggers import PartitionMarkerTrigger

        day, marker = self._marker_path(context)
        if marker.is_file():
            self.log.info("partition %s is complete: %s", day, marker)
            return day.isoformat()
        wait = float((context.get("params") or {}).get("wait_minutes") or 0)
        if wait <= 0:
            raise self._not_complete(day, marker, wait)
        deadline = datetime.now(UTC) + timedelta(minutes=wait)
        self.log.info("waiting up to %g min on the triggerer (worker slot released) for %s", wait, marker)
        self.defer(
            trigger=PartitionMarkerTrigger([str(marker)], deadline.isoformat(), poll_seconds()),
            method_name="execute_complete",
            kwargs={"wait": wait},
            timeout=timedelta(minutes=wait) + _TIMEOUT_GRACE,
        )

    def execute_complete(self, context, event: dict | None = None, wait: float = 0) -> str:
        day, marker = self._marker_path(context)
        if not marker.is_file():
            raise self._not_complete(day, marker, wait)
        self.log.info("partition %s is complete: %s", day, marker)
        return day.isoformat()

    def resume_execution(self, next_method: str, next_kwargs: dict | None, context):
        from airflow.sdk.exceptions import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:  # Airflow's safety net (e.g. no triggerer ran): look once more
            day, marker = self._marker_path(context)
            if marker.is_file():
                return day.isoformat()
            raise self._not_complete(day, marker, (next_kwargs or {}).get("wait", 0)) from None

    def _not_complete(self, day: date, marker: Path, wait: float) -> StaleDataError:
        return _stale(
            f"{marker.parent}: partition {day} has no '{marker.name}' marker after waiting {wait:g} min; "
            f"it is not announced, so no model retrains on it (a half-written partition is never read)",
            reason="incomplete_partition", dataset=str(marker.parent.parent), newest_partition=day.isoformat(),
        )
