"""The manual-trigger form of every model DAG: typed Params, and what a run reads back from them.

The form (Airflow's "Trigger DAG" dialog) is rendered from these Params' JSON schema, and Airflow validates
a run's conf against the same schema before the run is created, so invalid input is refused whole (never
half-applied). Fields that must not change (the model name, the alert channel) are ``const``: the form hides
them and a conf that changes them is refused. :func:`run_choices` reads the values back for the tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from retrain.config import ModelSpec

PromoteMode = Literal["auto", "never", "approval"]
PROMOTE_MODES: tuple[PromoteMode, ...] = ("auto", "never", "approval")
ADVANCED = "Advanced: overrides for this run only"
OVERRIDABLE = ("epochs", "learning_rate")  # training.* fields a run may override; recorded in MLflow


def dag_params(spec: ModelSpec) -> dict:
    """The DAG's ``params=``: the trigger form."""
    from airflow.sdk import Param

    channel = spec.alerts.slack_channel
    # Segment models gate each segment inside its chunk: no approval step (one request per segment would be
    # thousands), so the form does not offer it.
    modes = [m for m in PROMOTE_MODES if not (spec.segments is not None and m == "approval")]
    return {
        "as_of": Param(
            None, type=["null", "string"], format="date", title="Train as of",
            description="Train on the window of day partitions up to and including this date (YYYY-MM-DD). "
            "Empty: the run's data interval. A date in the past does not wait for data unless "
            "'Wait for data' is set.",
        ),
        "promote": Param(
            "auto", type="string", enum=modes, title="Promote",
            description="auto: the spec's gate decides (and asks for approval when gate.approval says so); "
            "never: train, gate and record, but leave the champion where it is"
            + ("; approval: a person approves in the Airflow UI before the champion moves." if "approval" in modes
               else " (segment models: per segment)."),
            values_display={m: d for m, d in (("auto", "auto (gate decides)"), ("never", "never (dry run)"),
                                              ("approval", "approval (ask a person)")) if m in modes},
        ),
        "retrain_seen_data": Param(
            True, type="boolean", title="Retrain on data seen before",
            description="Manual runs only: off skips the run when this spec already trained on the same data "
            "(scheduled and data-triggered runs always skip it).",
        ),
        "epochs": Param(
            None, type=["null", "integer"], minimum=1, maximum=1000, title="Epochs", section=ADVANCED,
            description=f"Overrides training.epochs ({spec.training.epochs}); recorded in MLflow as an override.",
        ),
        "learning_rate": Param(
            None, type=["null", "number"], exclusiveMinimum=0, maximum=10, title="Learning rate", section=ADVANCED,
            description=f"Overrides training.learning_rate ({spec.training.learning_rate}); recorded in MLflow "
            "as an override.",
        ),
        "wait_minutes": Param(
            None, type=["null", "number"], minimum=0, maximum=10080, title="Wait for data (minutes)",
            section=ADVANCED,
            description=f"How long check_freshness waits for late data. Empty: the spec's "
            f"data.freshness.wait_minutes ({spec.data.freshness.wait_minutes:g}), or 0 for a past 'as of'.",
        ),
        # Fixed by the spec: hidden in the form, and a conf that changes them is refused.
        "model_name": Param(spec.name, type="string", const=spec.name),
        "slack_channel": Param(channel, type="string", const=channel),
    }


@dataclass(frozen=True)
class RunChoices:
    """What a person asked of this run in the trigger form (or the run conf)."""

    as_of: date | None = None
    promote: PromoteMode = "auto"
    retrain_seen_data: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    wait_minutes: float | None = None

    def as_of_point(self) -> datetime | None:
        """The instant a requested ``as_of`` date trains as of: the end of that day (its partition included)."""
        from retrain.data.freshness import partition_end

        return partition_end(self.as_of) if self.as_of else None

    def effective_wait_minutes(self, spec: ModelSpec, now: datetime | None = None) -> float:
        """How long to wait for late data: as asked; else 0 for an ``as_of`` already past; else the spec's."""
        if self.wait_minutes is not None:
            return float(self.wait_minutes)
        point = self.as_of_point()
        if point is not None and point <= (now or datetime.now(UTC)):
            return 0.0
        return spec.data.freshness.wait_minutes


class RunParamError(ValueError):
    """A run's params that the form's schema would have refused (e.g. set through the REST API's conf)."""


def run_choices(params: Mapping[str, Any] | None) -> RunChoices:
    """Read the form's values back (``context["params"]``). Raises RunParamError naming the field."""
    params = params or {}
    as_of = params.get("as_of") or None
    if as_of is not None:
        try:
            as_of = date.fromisoformat(str(as_of)[:10])
        except ValueError:
            raise RunParamError(f"param 'as_of': {params.get('as_of')!r} is not a date (YYYY-MM-DD)") from None
    promote = params.get("promote") or "auto"
    if promote not in PROMOTE_MODES:
        raise RunParamError(f"param 'promote': {promote!r} is not one of {list(PROMOTE_MODES)}")
    overrides: dict[str, Any] = {}
    for name in OVERRIDABLE:
        value = params.get(name)
        if value is None:
            continue
        number = int(value) if name == "epochs" else float(value)
        if number <= 0:
            raise RunParamError(f"param '{name}': must be greater than 0, got {value!r}")
        overrides[name] = number
    wait = params.get("wait_minutes")
    seen = params.get("retrain_seen_data", True)
    return RunChoices(as_of=as_of, promote=promote, retrain_seen_data=bool(True if seen is None else seen),
                      overrides=overrides, wait_minutes=None if wait is None else float(wait))


def choices_from_context(context) -> RunChoices:
    return run_choices(context.get("params") if isinstance(context, Mapping) else None)
