"""Model specs: one YAML file per model, validated into typed objects.

A spec is everything the pipeline needs to know about a model. Adding a model means adding a spec file;
no DAG code. ``load_spec`` turns any problem into a ``SpecError`` that names the file and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retrain.errors import SpecError

HeadKind = Literal["binary", "regression"]

# Metrics each head kind reports, and whether a larger value is better.
METRIC_DIRECTIONS: dict[HeadKind, dict[str, Literal["higher", "lower"]]] = {
    "binary": {"roc_auc": "higher", "log_loss": "lower", "accuracy": "higher"},
    "regression": {"rmse": "lower", "mae": "lower", "r2": "higher"},
}

_NAME = r"^[a-z][a-z0-9_]{1,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSpec(_Strict):
    cron: str | None = Field(default=None, description="cron expression, e.g. '0 3 * * *'")
    timezone: str = "UTC"
    on_data_arrival: bool = Field(default=False, description="also run when the dataset's Asset is updated")
    catchup: bool = False
    start_date: str | None = Field(
        default=None,
        description="first date the schedule may run; None: no lower bound, so runs for any past date work",
    )

    @field_validator("start_date")
    @classmethod
    def _start_date_is_a_date(cls, value: str | None) -> str | None:
        if value is not None:
            from datetime import datetime

            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"start_date must be an ISO date (YYYY-MM-DD), got {value!r}") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("@") and len(value.split()) != 5:
            raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {value!r}")
        return value

    @model_validator(mode="after")
    def _catchup_needs_a_start(self) -> ScheduleSpec:
        if self.catchup and self.start_date is None:
            raise ValueError("catchup: true needs a start_date (the first interval to catch up from)")
        return self


class FreshnessRule(_Strict):
    max_age_hours: float = Field(gt=0, description="newest partition may be at most this old")
    min_rows: int = Field(ge=1, description="the newest partition must hold at least this many rows")
    wait_minutes: float = Field(
        default=60, ge=0,
        description="how long check_freshness waits (deferred, on the triggerer) for late data; then stale",
    )


class DataSpec(_Strict):
    location: str = Field(description="folder of day partitions; relative paths are under RETRAIN_DATA_ROOT")
    partition_prefix: str = "dt="
    completion_marker: str = "_SUCCESS"
    training_window_days: int = Field(default=7, ge=1)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=0.9)
    freshness: FreshnessRule


class FeatureSpec(_Strict):
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _non_empty_and_distinct(self) -> FeatureSpec:
        if not self.numeric and not self.categorical:
            raise ValueError("at least one numeric or categorical feature is required")
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"columns listed as both numeric and categorical: {sorted(both)}")
        return self

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class HeadSpec(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    label: str = Field(description="column holding the target")
    kind: HeadKind
    loss_weight: float = Field(default=1.0, gt=0)


class ArchitectureSpec(_Strict):
    type: Literal["esmm", "tabular_mlp"]
    hidden_units: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64, 32])
    embedding_dim: int = Field(default=8, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)


class TrainingSpec(_Strict):
    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=1024, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"


class ResourcesSpec(_Strict):
    """Where training runs. ``gpu: required`` fails fast on a worker without CUDA; ``preferred`` falls back to
    the CPU with a warning; ``none`` keeps ``training.device``. With a GPU, the train task goes to the ``gpu``
    queue and pool and asks Kubernetes for ``nvidia.com/gpu`` (see docs/benchmarks.md, GPU workers)."""

    gpu: Literal["none", "preferred", "required"] = "none"
    gpus: int = Field(default=1, ge=1)
    memory_gb: float | None = Field(default=None, gt=0)


class SegmentsSpec(_Strict):
    """One model per value of ``column`` (a store, a region); ``max_per_task`` segments train in one mapped task."""

    column: str
    max_per_task: int = Field(default=50, ge=1, le=10_000)
    values: list[str] | None = None  # None: every value found in the data


class EvaluationSpec(_Strict):
    slices: list[str] = Field(
        default_factory=list, description="categorical features whose values get their own holdout metrics"
    )


class DriftSpec(_Strict):
    """PSI per column against the data that trained the current champion."""

    psi_warn: float = Field(default=0.1, gt=0)
    psi_block: float | None = Field(default=0.25, gt=0, description="None: drift only warns")
    columns: list[str] = Field(min_length=1)
    bins: int = Field(default=10, ge=2, le=100)


class ValidationSpec(_Strict):
    suite: str = Field(description="expectation suite file, relative to the specs' include/ folder")
    drift: DriftSpec | None = None


class MetricBound(_Strict):
    min: float | None = None
    max: float | None = None


class HeadGate(_Strict):
    thresholds: dict[str, MetricBound] = Field(default_factory=dict)
    max_regression: dict[str, float] = Field(
        default_factory=dict, description="how much worse than the champion a metric may be"
    )
    require_significant_improvement: list[str] = Field(
        default_factory=list,
        description="metrics whose improvement over the champion must clear a bootstrap confidence interval",
    )


class GateSpec(_Strict):
    heads: dict[str, HeadGate] = Field(default_factory=dict)
    bootstrap_samples: int = Field(default=200, ge=20, le=10_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    approval: Literal["never", "always", "borderline"] = Field(
        default="never",
        description="ask a person in the Airflow UI before the champion moves: never, always, or only when the "
        "candidate passed but within a no-regression margin or without a significant improvement",
    )
    approval_timeout_hours: float = Field(
        default=24, gt=0, description="an unanswered approval request is rejected after this long"
    )


class ScoringSpec(_Strict):
    """Batch scoring with the champion: a DAG ``score_<name>`` lands predictions as day partitions."""

    output: str = Field(description="folder of prediction partitions; relative paths are under RETRAIN_DATA_ROOT")
    passthrough_columns: list[str] = Field(
        default_factory=list, description="input columns copied next to the predictions (ids, keys)"
    )


class AlertSpec(_Strict):
    slack_channel: str = "#ml-alerts"
    deadline_minutes: float | None = Field(
        default=None, gt=0, description="alert when a run has not finished this long after it was queued"
    )


class ModelSpec(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    owner: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    data: DataSpec
    features: FeatureSpec
    heads: list[HeadSpec] = Field(min_length=1)
    architecture: ArchitectureSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    segments: SegmentsSpec | None = None
    validation: ValidationSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    gate: GateSpec = Field(default_factory=GateSpec)
    alerts: AlertSpec = Field(default_factory=AlertSpec)
    scoring: ScoringSpec | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> ModelSpec:
        head_names = [h.name for h in self.heads]
        if len(set(head_names)) != len(head_names):
            raise ValueError(f"head names must be unique, got {head_names}")
        labels = {h.label for h in self.heads}
        clash = labels & set(self.features.columns)
        if clash:
            raise ValueError(f"label columns also used as features: {sorted(clash)}")
        for head_name, head_gate in self.gate.heads.items():
            if head_name not in head_names:
                raise ValueError(f"gate.heads.{head_name}: no head named {head_name!r} (heads: {head_names})")
            kind = next(h.kind for h in self.heads if h.name == head_name)
            known = METRIC_DIRECTIONS[kind]
            for metric in [*head_gate.thresholds, *head_gate.max_regression, *head_gate.require_significant_improvement]:
                if metric not in known:
                    raise ValueError(
                        f"gate.heads.{head_name}: unknown metric {metric!r} for a {kind} head "
                        f"(known: {sorted(known)})"
                    )
        unknown_slices = set(self.evaluation.slices) - set(self.features.categorical)
        if unknown_slices:
            raise ValueError(f"evaluation.slices must be categorical features, got {sorted(unknown_slices)}")
        if self.architecture.type == "esmm":
            kinds = [h.kind for h in self.heads]
            if kinds != ["binary", "binary"]:
                raise ValueError("architecture esmm needs exactly two binary heads: the first stage and the joint one")
        return self

    @property
    def dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def registered_model_name(self) -> str:
        return self.name

    def head(self, name: str) -> HeadSpec:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)


@dataclass(frozen=True)
class LoadedSpec:
    """A spec together with where it came from, so errors and lineage can name the file."""

    spec: ModelSpec
    path: Path
    sha256: str


@dataclass(frozen=True)
class BrokenSpec:
    """A spec file that failed to load; the DAG factory surfaces it as an error for that model alone."""

    path: Path
    error: SpecError

    @property
    def dag_id(self) -> str:
        stem = re.sub(r"[^a-z0-9_]", "_", self.path.stem.lower())
        return f"retrain_{stem}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<root>"


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate one spec file. Raises SpecError naming the file and the offending field."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file: {exc.strerror}", path=str(path)) from None
    try:
        raw = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping, got {type(raw).__name__}", path=str(path))
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        fields = []
        for err in exc.errors():
            field = _field_path(err["loc"])
            fields.append(field)
            problems.append(f"field '{field}': {err['msg']}")
        raise SpecError(f"{path}: invalid spec: " + "; ".join(problems), path=str(path), fields=fields) from None
    return LoadedSpec(spec=spec, path=path, sha256=hashlib.sha256(raw_bytes).hexdigest())


def iter_spec_files(specs_dir: str | Path) -> Iterator[Path]:
    yield from sorted(p for p in Path(specs_dir).glob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def discover_specs(specs_dir: str | Path) -> list[LoadedSpec | BrokenSpec]:
    """Load every spec in a folder. A broken file becomes a BrokenSpec; the others still load."""
    found: list[LoadedSpec | BrokenSpec] = []
    for path in iter_spec_files(specs_dir):
        try:
            found.append(load_spec(path))
        except SpecError as err:
            found.append(BrokenSpec(path=path, error=err))
    return found
