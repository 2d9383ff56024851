"""Model specs: one YAML file per model, validated into typed objects.

A spec is everything the pipeline needs to know about a model. Adding a model means adding a spec file;
no DAG code. ``load_spec`` turns any problem into a ``SpecError`` that names the file and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retrain.errors import SpecError
from retrain.training.metrics import METRICS

if TYPE_CHECKING:
    from retrain.settings import Settings

HeadKind = Literal["binary", "multiclass", "regression"]

# Metrics each head kind reports, and whether a larger value is better (retrain.training.metrics.METRICS).
METRIC_DIRECTIONS: dict[HeadKind, dict[str, Literal["higher", "lower"]]] = {
    kind: {name: metric.direction for name, metric in metrics.items()} for kind, metrics in METRICS.items()
}

_NAME = r"^[a-z][a-z0-9_]{1,62}$"
# Airflow's cron presets (airflow.utils.dates.cron_presets); anything else starting with "@" is unknown.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
# A spec is a few KB; a bigger file is a mistake or an attack on every parse of the DAG file.
MAX_SPEC_BYTES = 256 * 1024
# YAML aliases can make a small file expand to billions of nodes ("billion laughs") during validation.
MAX_SPEC_NODES = 20_000
# A multiclass head's output layer has one unit per class; more classes than this is an id, not a label.
MAX_CLASSES = 1_000


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

    # Checked here, not when Airflow serializes the DAG: there a bad value fails the whole DAG file.
    @field_validator("cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith("@") and value not in CRON_PRESETS:
            raise ValueError(f"unknown cron preset {value!r} (known: {', '.join(CRON_PRESETS)})")
        expression = CRON_PRESETS.get(value, value)
        if len(expression.split()) != 5:
            raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {value!r}")
        from croniter import CroniterError, croniter

        try:
            croniter(expression, datetime(2026, 1, 1)).get_next(datetime)
        except (CroniterError, ValueError) as exc:
            raise ValueError(f"cron {value!r} is not valid: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as 'Europe/Berlin'") from None
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
        default=60.0, ge=0,
        description="how long check_freshness waits (deferred, on the triggerer) for late data; then stale",
    )


class DataSpec(_Strict):
    location: str = Field(description="folder of day partitions; relative paths are under RETRAIN_DATA_ROOT")
    partition_prefix: str = "dt="
    completion_marker: str = "_SUCCESS"
    training_window_days: int = Field(default=7, ge=1)
    holdout_fraction: float = Field(
        default=0.2, ge=0, lt=0.9, description="share of rows held out, by a hash of holdout_key (docs/evaluation.md)"
    )
    holdout_key: list[str] = Field(
        default_factory=list, description="columns (an id, a user) whose hash puts a row in the holdout; empty: the whole row"
    )
    holdout_newest_days: int = Field(default=0, ge=0, description="also hold out the window's newest N days whole")
    drop_unlabeled_rows: bool = Field(
        default=False, description="drop rows with no label at all (counted per partition; a row missing some "
                                   "heads' labels trains the others); otherwise the contract rejects them"
    )
    freshness: FreshnessRule

    @model_validator(mode="after")
    def _some_holdout(self) -> DataSpec:
        if self.holdout_fraction == 0 and self.holdout_newest_days == 0:
            raise ValueError("holdout_fraction or holdout_newest_days must be positive: the gate needs a holdout")
        if self.holdout_newest_days >= self.training_window_days:
            raise ValueError(
                f"holdout_newest_days ({self.holdout_newest_days}) must be less than training_window_days "
                f"({self.training_window_days}): some days must be left to train on"
            )
        return self


def _check_gate_values(where: str, gate: HeadGate, known: dict) -> None:
    """Thresholds a candidate can meet, and margins that are not negative: a gate that no candidate can
    ever pass rejects every run while the runs look healthy."""
    for metric, bound in gate.thresholds.items():
        at = f"{where}.thresholds.{metric}"
        low, high = known[metric].low, known[metric].high
        if bound.min is not None and bound.max is not None and bound.min > bound.max:
            raise ValueError(f"{at}: min {bound.min:g} is above max {bound.max:g}, so no candidate can pass")
        if bound.min is not None and bound.min > high:
            raise ValueError(f"{at}: min {bound.min:g} can never be met: {metric} is at most {high:g}")
        if bound.max is not None and bound.max < low:
            raise ValueError(f"{at}: max {bound.max:g} can never be met: {metric} is at least {low:g}")
    for rule, other, means in (("max_regression", "min_improvement", "must improve by at least"),
                               ("min_improvement", "max_regression", "may get worse by at most")):
        for metric, margin in getattr(gate, rule).items():
            if margin < 0:
                raise ValueError(f"{where}.{rule}.{metric}: {margin:g} is negative; to say the candidate {means} "
                                 f"{-margin:g}, write {other}: {{{metric}: {-margin:g}}}")


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
        twice = sorted(c for c, n in Counter(self.columns).items() if n > 1)
        if twice:
            raise ValueError(f"features listed more than once: {twice}")
        return self

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class HeadSpec(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    label: str = Field(description="column holding the target")
    kind: HeadKind
    loss_weight: float = Field(default=1.0, gt=0)
    positive: str | None = Field(
        default=None, description="binary heads whose label is text or a code: the value that means 1 ('yes', "
        "'>50K', 2), compared as trimmed text; every other value means 0. Without it the label must be 0/1")

    classes: list[str] | None = Field(
        default=None, min_length=2, max_length=MAX_CLASSES, description="multiclass heads: every value the label "
        "takes, compared as trimmed text (codes 1, 2, 3 as '1', '2', '3'); a label outside them is refused")

    @field_validator("positive", mode="before")
    @classmethod
    def _positive_as_text(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError('write it in quotes, e.g. positive: "yes": YAML reads yes/no/true/false unquoted as '
                             "a boolean, not as the text in your column")
        return str(value) if isinstance(value, int | float) else value

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        if any(isinstance(v, bool) for v in value):
            raise ValueError('write yes/no/true/false in quotes ("yes"): YAML reads them unquoted as booleans')
        return [str(v).strip() if isinstance(v, str | int | float) else v for v in value]

    @model_validator(mode="after")
    def _kind_fields(self) -> HeadSpec:
        if self.positive is not None and self.kind != "binary":
            raise ValueError(f"head '{self.name}': only a binary head has a positive value")
        if (self.classes is not None) != (self.kind == "multiclass"):
            raise ValueError(f"head '{self.name}': a multiclass head lists its label's values in classes: "
                             "[...], and only a multiclass head has classes")
        if self.classes is not None:
            odd = [c for c in self.classes if len(c) > 200 or not c.isprintable()]
            if odd:  # they name output columns and appear in the model card and messages
                raise ValueError(f"head '{self.name}': a class is printable text of at most 200 characters, got "
                                 f"{[c[:40] for c in odd[:3]]}")
            repeated = sorted({c for c in self.classes if self.classes.count(c) > 1})
            if repeated or "" in self.classes:
                raise ValueError(f"head '{self.name}': classes must be distinct and not blank; "
                                 + (f"listed twice (as trimmed text): {repeated}" if repeated else "one is blank"))
        return self


class ArchitectureSpec(_Strict):
    type: str = Field(description="a key of retrain.models.base.ARCHITECTURES")
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
    max_minutes: float | None = Field(
        default=None, gt=0, description="budget: training stops at an epoch boundary before this many minutes"
    )
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="budget: training stops at an epoch boundary before costing this much"
    )

    @property
    def worker_queue(self) -> str:
        """The Celery queue the train task goes to, which is also the row of the price table it is charged at."""
        return "gpu" if self.gpu != "none" else "default"


class FloatRange(_Strict):
    low: float = Field(ge=0)
    high: float = Field(gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class SearchSpace(_Strict):
    """What tuning may change; a parameter left out keeps the spec's value."""

    learning_rate: FloatRange | None = None
    batch_size: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1)
    hidden_units: list[list[Annotated[int, Field(ge=1)]]] | None = Field(default=None, min_length=1)
    embedding_dim: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1)
    dropout: FloatRange | None = None
    weight_decay: FloatRange | None = None


class TuningSpec(_Strict):
    """Hyperparameter search (Optuna TPE, median pruning on per-epoch holdout loss) in DAG ``tune_<name>``.
    Its best configuration trains a candidate that goes through the same gate as any other."""

    cron: str = Field(default="0 4 * * 0", description="the tuning DAG's own schedule (weekly by default)")
    trials: int = Field(default=20, ge=1, le=1000)
    timeout_minutes: float = Field(default=60.0, gt=0, description="time budget for all trials together")
    metric: str = Field(
        default="holdout_loss", description="'holdout_loss' or '<head>.<metric>' on the tuning validation rows"
    )
    space: SearchSpace = Field(default_factory=SearchSpace)

    @field_validator("cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str) -> str:
        return ScheduleSpec._cron_has_five_fields(value)


def _segment_name(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return repr(value) if isinstance(value, float) else value


class SegmentsSpec(_Strict):
    """One model per value of ``column`` (a store, a region); ``max_per_task`` segments train in one mapped task."""

    column: str
    max_per_task: int = Field(default=50, ge=1, le=10_000)
    values: list[str] | None = None  # None: every value found in the data

    @field_validator("values", mode="before")
    @classmethod
    def _as_segment_names(cls, values: object) -> object:
        """Numbers and booleans as the segments the data names them (``segment_keys``): 7 and 7.0 are '7'."""
        if not isinstance(values, list):
            return values
        named = [_segment_name(v) for v in values]
        twice = sorted(n for n, count in Counter(named).items() if isinstance(n, str) and count > 1)
        if twice:
            raise ValueError(f"lists {', '.join(repr(n) for n in twice)} twice (7 and 7.0 name one segment)")
        return named


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
    min_improvement: dict[str, float] = Field(
        default_factory=dict, description="how much better than the champion a metric must be to promote"
    )
    require_significant_improvement: list[str] = Field(
        default_factory=list,
        description="metrics whose improvement over the champion must clear a bootstrap confidence interval",
    )


class ShadowSpec(_Strict):
    """Hold a challenger that passed the gate beside the champion on the next partitions before promoting it."""

    partitions: int = Field(ge=1, le=60, description="partitions landed after its training data it must win on")


class GateSpec(_Strict):
    heads: dict[str, HeadGate] = Field(default_factory=dict)
    shadow: ShadowSpec | None = None
    min_holdout_examples: int = Field(
        default=20, ge=1, description="a gated head is judged only on at least this many holdout rows, and a binary "
        "head on at least this many of each class: a metric on fewer moves too much by chance to promote on",
    )
    bootstrap_samples: int = Field(default=200, ge=20, le=10_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    approval: Literal["never", "always", "borderline"] = Field(
        default="never",
        description="ask a person in the Airflow UI before the champion moves: never, always, or only when the "
        "candidate passed but within a no-regression margin or without a significant improvement",
    )
    approval_timeout_hours: float = Field(
        default=24.0, gt=0, description="an unanswered approval request is rejected after this long"
    )


class ScoringSpec(_Strict):
    """Batch scoring with the champion: a DAG ``score_<name>`` lands predictions as day partitions."""

    output: str = Field(description="folder of prediction partitions; relative paths are under RETRAIN_DATA_ROOT")
    passthrough_columns: list[str] = Field(
        default_factory=list, description="input columns copied next to the predictions (ids, keys)"
    )


class AlertSpec(_Strict):
    slack_channel: str = "#ml-alerts"
    notifiers: list[Literal["slack", "log"]] | None = Field(  # the keys of retrain.alerts.notifiers.NOTIFIERS
        default=None, min_length=1, description="where alerts go: 'slack', 'log' (the task log); None: RETRAIN_NOTIFIERS"
    )
    deadline_minutes: float | None = Field(
        default=None, gt=0, description="alert when a run has not finished this long after it was queued"
    )


class ModelSpec(_Strict):
    name: Annotated[str, Field(pattern=_NAME, description="DAG retrain_<name>; 'land_' and '__' are reserved")]
    owner: str
    description: str = ""
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(  # Airflow's dag_tag column
        default_factory=list)
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
    tuning: TuningSpec | None = None
    scoring: ScoringSpec | None = None

    @field_validator("name")
    @classmethod
    def _not_a_landing_dag(cls, value: str) -> str:
        if value.startswith("land_"):  # retrain_land_<dataset> are the landing DAGs (orchestration/landing_dags.py)
            raise ValueError(f"names starting with 'land_' are reserved for landing DAGs, got {value!r}")
        if "__" in value:  # segment models are <name>__<value>, their runs in experiment <name>__segments
            raise ValueError(f"'__' is reserved for segment models (<spec>__<value>), got {value!r}; use one '_'")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> ModelSpec:
        head_names = [h.name for h in self.heads]
        if len(set(head_names)) != len(head_names):
            raise ValueError(f"heads: head names must be unique, got {head_names}")
        labels = {h.label for h in self.heads}
        clash = labels & set(self.features.columns)
        if clash:
            raise ValueError(f"features: label columns also used as features: {sorted(clash)} (the model would see the answer)")
        for head_name, head_gate in self.gate.heads.items():
            if head_name not in head_names:
                raise ValueError(f"gate.heads.{head_name}: no head named {head_name!r} (heads: {head_names})")
            kind = next(h.kind for h in self.heads if h.name == head_name)
            known = METRICS[kind]
            for metric in [*head_gate.thresholds, *head_gate.max_regression, *head_gate.min_improvement,
                           *head_gate.require_significant_improvement]:
                if metric not in known:
                    raise ValueError(
                        f"gate.heads.{head_name}: unknown metric {metric!r} for a {kind} head "
                        f"(known: {sorted(known)})"
                    )
            _check_gate_values(f"gate.heads.{head_name}", head_gate, known)
        keyed_on_labels = [c for c in self.data.holdout_key if c in labels]
        if keyed_on_labels:  # one label value, one side of the split: a holdout of one class
            raise ValueError(f"data.holdout_key: {keyed_on_labels} is a label; the holdout would hold rows by their "
                             "label's value. Key on an id (a user, a customer) or leave holdout_key empty")
        unknown_slices = set(self.evaluation.slices) - set(self.features.categorical)
        if unknown_slices:
            raise ValueError(f"evaluation.slices: must be categorical features, got {sorted(unknown_slices)}")
        if self.tuning is not None and self.tuning.metric != "holdout_loss":
            head_name, _, metric = self.tuning.metric.partition(".")
            kind = next((h.kind for h in self.heads if h.name == head_name), None)
            if kind is None or metric not in METRIC_DIRECTIONS[kind]:
                raise ValueError(f"tuning.metric: {self.tuning.metric!r} is neither 'holdout_loss' nor "
                                 f"'<head>.<metric>' of a head (heads: {head_names})")
        from retrain.models.base import ARCHITECTURES, probability_column

        served = [*head_names, *(probability_column(h.name, c) for h in self.heads for c in h.classes or [])]
        clashing = sorted({c for c in served if served.count(c) > 1})
        if clashing:  # a served prediction frame holds one column per head and per multiclass probability
            raise ValueError(f"heads: the served predictions would hold {clashing} twice (a head's name equals "
                             "another head's <head>_probability_<class> column); rename the head")
        architecture = ARCHITECTURES.get(self.architecture.type)
        if architecture is None:
            raise ValueError(f"architecture.type: unknown {self.architecture.type!r} (known: {sorted(ARCHITECTURES)})")
        needed = architecture.head_kinds
        if needed is not None and tuple(h.kind for h in self.heads) != needed:
            raise ValueError(f"heads: architecture {self.architecture.type} needs heads of kinds {list(needed)}, in order")
        return self

    @property
    def dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def registered_model_name(self) -> str:
        return self.name

    @property
    def columns_read(self) -> list[str]:
        """Every data column training reads: features, labels, the holdout key and the segment column."""
        segment = [self.segments.column] if self.segments is not None else []
        return list(dict.fromkeys([*self.features.columns, *(h.label for h in self.heads),
                                   *self.data.holdout_key, *segment]))

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
    placeholder_id: str | None = None  # set when retrain_<stem> belongs to another file (see discover_specs)
    declared_name: str | None = None  # the name the broken file gives, when it could be read

    @property
    def dag_id(self) -> str:
        return self.placeholder_id or file_dag_id(self.path)


def file_dag_id(path: Path) -> str:
    """The DAG id a spec file gets from its name when it cannot name its model."""
    return "retrain_" + re.sub(r"[^a-z0-9_]", "_", path.stem.lower())


# libyaml's safe loader when PyYAML was built with it: the same documents, 8x faster than the pure-Python
# one (64 vs 8 ms a spec under load, docs/benchmarks.md "Parsing"); every DAG-file parse reads every spec.
class YAML_LOADER(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # noqa: N801 (used as a loader class)
    """The safe loader, refusing a key written twice in one mapping: YAML keeps the last, so a second ``gate:``
    appended below the first silently replaced its thresholds. Merge keys (``<<``) still let a mapping override
    what it merges."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key_node.value!r} appears twice (lines {seen[key_node.value]} and {line}): "
                        "YAML would keep only the second; write it once", key_node.start_mark)
                seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<root>"


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate one spec file. Raises SpecError naming the file and the offending field.
    A file whose bytes were validated before by the same code comes from the cache (retrain.spec_cache)."""
    from retrain import spec_cache
    from retrain.settings import get_settings

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: spec file is {size} bytes, more than {MAX_SPEC_BYTES}", path=str(path))
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file: {exc.strerror}", path=str(path)) from None
    settings = get_settings()
    sha256 = hashlib.sha256(raw_bytes).hexdigest()
    key = spec_cache.entry_key(sha256)
    spec = _from_cache(spec_cache.get(settings.spec_cache, key))
    if spec is None:
        spec = _validate(raw_bytes, path)
        spec_json = spec.model_dump_json()
        if _same(_from_cache(spec_json), spec):  # cached only when the JSON gives back this very spec
            spec_cache.put(settings.spec_cache, key, spec.dag_id, spec_json)
    try:
        _check_paths(spec, path, settings)
    except SpecError as err:  # keep the name it meant to have, so a clash with another file can be named
        err.declared_name = spec.name
        raise
    return LoadedSpec(spec=spec, path=path, sha256=sha256)


def _from_cache(spec_json: str | None) -> ModelSpec | None:
    if spec_json is None:
        return None
    try:
        return ModelSpec.model_validate_json(spec_json)
    except ValidationError:  # written by other code: validate the file instead
        return None


def _same(restored: ModelSpec | None, spec: ModelSpec) -> bool:
    """Equal, and equal in JSON too (60 and 60.0 are equal in Python, not in a hash of the spec)."""
    import json

    return restored == spec and json.dumps(restored.model_dump()) == json.dumps(spec.model_dump())


def _validate(raw_bytes: bytes, path: Path) -> ModelSpec:
    """YAML and the pydantic model: everything about a spec that depends only on the file's bytes."""
    try:
        raw = yaml.load(raw_bytes, Loader=YAML_LOADER)  # a safe loader: tags such as !!python/object are refused
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping, got {type(raw).__name__}", path=str(path))
    if too_many_nodes(raw, MAX_SPEC_NODES):
        raise SpecError(f"{path}: spec expands to more than {MAX_SPEC_NODES} values (YAML aliases?)", path=str(path))
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        fields = []
        for err in exc.errors():
            field, message = _field_path(err["loc"]), err["msg"]
            named = re.match(r"Value error, ([a-z_][\w.\[\]]*): (.*)", message, re.DOTALL)
            if field == "<root>" and named:  # a cross-field check names the field it is about
                field, message = named.groups()
            fields.append(field)
            problems.append(f"field '{field}': {message}")
        error = SpecError(f"{path}: invalid spec: " + "; ".join(problems), path=str(path), fields=fields)
        error.declared_name = raw.get("name") if isinstance(raw.get("name"), str) else None
        raise error from None


def too_many_nodes(node: object, limit: int) -> bool:
    """Count values (aliases counted each time they are used) and stop at the limit: an alias bomb costs
    at most ``limit`` steps."""
    pending, seen = [node], 0
    while pending:
        item = pending.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _check_paths(spec: ModelSpec, path: Path, settings: Settings) -> None:
    """The data location and the suite must lie inside their roots, and the suite must exist (at load, not at run)."""
    from retrain.errors import PathNotAllowedError

    try:
        data = settings.resolve_data_path(spec.data.location)
    except PathNotAllowedError as exc:
        raise SpecError(f"{path}: invalid spec: field 'data.location': {exc}", path=str(path),
                        fields=["data.location"]) from None
    if spec.scoring is not None:
        _check_scoring_output(spec, path, settings, data.resolve())
    try:
        suite = settings.resolve_include_path(spec.validation.suite)
    except PathNotAllowedError as exc:
        raise SpecError(f"{path}: invalid spec: field 'validation.suite': {exc}", path=str(path),
                        fields=["validation.suite"]) from None
    if not suite.is_file():
        raise SpecError(f"{path}: invalid spec: field 'validation.suite': no expectation suite file at {suite}",
                        path=str(path), fields=["validation.suite"])


def _check_scoring_output(spec: ModelSpec, path: Path, settings: Settings, data: Path) -> None:
    """Predictions land inside the data roots, never in (or around) ``data``, the model's own input dataset."""
    from retrain.errors import PathNotAllowedError

    try:
        output = settings.resolve_data_path(spec.scoring.output).resolve()
    except PathNotAllowedError as exc:
        raise SpecError(f"{path}: invalid spec: field 'scoring.output': {exc}", path=str(path),
                        fields=["scoring.output"]) from None
    if output.is_relative_to(data) or data.is_relative_to(output):
        raise SpecError(f"{path}: invalid spec: field 'scoring.output': {spec.scoring.output!r} ({output}) overlaps "
                        f"the model's own input data (data.location: {data}); predictions would land as input "
                        "partitions. Give them a folder of their own", path=str(path), fields=["scoring.output"])


def iter_spec_files(specs_dir: str | Path) -> Iterator[Path]:
    yield from sorted(p for p in Path(specs_dir).glob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def discover_specs(specs_dir: str | Path, keep: Callable[[Path], bool] | None = None) -> list[LoadedSpec | BrokenSpec]:
    """Load every spec in a folder (or only the files ``keep`` selects). A broken file becomes a BrokenSpec;
    the others still load. Files that claim the same DAG id are settled by ``settle_dag_id_clashes``, across
    the whole folder: other files are consulted (by their cached claim) only to settle the kept ones' clashes."""
    paths = list(iter_spec_files(specs_dir))
    kept = [p for p in paths if keep is None or keep(p)]
    found = [_load_or_broken(p) for p in kept]
    if keep is not None:
        found += _rivals(found, [p for p in paths if not keep(p)])
        found.sort(key=lambda item: item.path)  # the same order as a full discovery: the same keeper
    settled = settle_dag_id_clashes(found)
    kept_set = set(kept)
    return settled if keep is None else [item for item in settled if item.path in kept_set]


def _load_or_broken(path: Path) -> LoadedSpec | BrokenSpec:
    try:
        return load_spec(path)
    except SpecError as err:
        return BrokenSpec(path=path, error=err, declared_name=getattr(err, "declared_name", None))


def _rivals(found: list[LoadedSpec | BrokenSpec], others: list[Path]) -> list[LoadedSpec | BrokenSpec]:
    """The files among ``others`` that claim a DAG id one of ``found`` claims or means. Only those are loaded:
    the others are ruled out by their cached claim, or else by the ids they could claim (their model name as
    read from YAML, or their file name as a placeholder), so a first parse does not validate every file."""
    from retrain import spec_cache
    from retrain.settings import get_settings

    wanted = {_claimed_dag_id(item) for item in found}
    wanted |= {f"retrain_{i.declared_name}" for i in found if isinstance(i, BrokenSpec) and i.declared_name}
    cached = spec_cache.claims(get_settings().spec_cache)
    rivals = []
    for path in others:
        try:
            raw_bytes = path.read_bytes()
        except OSError:
            raw_bytes = b""
        claim = cached.get(spec_cache.entry_key(hashlib.sha256(raw_bytes).hexdigest()))
        possible = {file_dag_id(path)}
        possible |= {claim} if claim else _named_in(raw_bytes)
        if possible & wanted:
            item = _load_or_broken(path)
            if _claimed_dag_id(item) in wanted:
                rivals.append(item)
    return rivals


def _named_in(raw_bytes: bytes) -> set[str]:
    """The DAG id a spec's bytes name, without validating them (empty when they name none)."""
    try:
        raw = yaml.load(raw_bytes, Loader=YAML_LOADER)
    except yaml.YAMLError:
        return set()
    name = raw.get("name") if isinstance(raw, dict) else None
    return {f"retrain_{name}"} if isinstance(name, str) else set()


def _claimed_dag_id(item: LoadedSpec | BrokenSpec) -> str:
    return item.spec.dag_id if isinstance(item, LoadedSpec) else item.dag_id


def settle_dag_id_clashes(found: list[LoadedSpec | BrokenSpec]) -> list[LoadedSpec | BrokenSpec]:
    """No file silently replaces another's DAG. When several files claim one DAG id, the only valid one keeps it
    (or, among valid ones, the file named after the model); every other file gets a placeholder of its own
    naming all of them. With no such keeper the id itself becomes the placeholder, so nothing runs by luck."""
    groups: dict[str, list[LoadedSpec | BrokenSpec]] = {}
    for item in found:
        groups.setdefault(_claimed_dag_id(item), []).append(item)
    used = set(groups)
    settled: list[LoadedSpec | BrokenSpec] = []
    for dag_id, items in groups.items():
        if len(items) == 1:
            item = items[0]
            meant = f"retrain_{item.declared_name}" if isinstance(item, BrokenSpec) and item.declared_name else None
            if meant and meant != dag_id and meant in groups:  # a broken copy of another model's spec
                others = ", ".join(str(i.path) for i in groups[meant])
                message = f"{item.error}; it names model {item.declared_name!r}, whose DAG comes from {others}"
                item = BrokenSpec(item.path, SpecError(message, path=str(item.path), fields=item.error.fields),
                                  placeholder_id=item.placeholder_id, declared_name=item.declared_name)
            settled.append(item)
            continue
        valid = [i for i in items if isinstance(i, LoadedSpec)]
        named_after = [i for i in valid if i.path.stem == i.spec.name]
        keeper = valid[0] if len(valid) == 1 else named_after[0] if len(named_after) == 1 else None
        files = ", ".join(str(i.path) for i in items)
        if keeper is None:
            first = items[0]
            message = f"{first.path}: DAG id {dag_id} is claimed by several spec files ({files}); none runs until one remains"
            message += "".join(f"; {i.error}" for i in items if isinstance(i, BrokenSpec))
            settled.append(BrokenSpec(first.path, SpecError(message, path=str(first.path)), placeholder_id=dag_id))
            continue
        settled.append(keeper)
        for item in items:
            if item is keeper:
                continue
            own = f"retrain_{re.sub(r'[^a-z0-9_]', '_', item.path.stem.lower())}.{item.path.suffix.lstrip('.')}"
            while own in used:
                own += "_"
            used.add(own)
            message = f"{item.path}: DAG id {dag_id} is claimed by several spec files ({files}); {keeper.path.name} keeps it"
            if isinstance(item, BrokenSpec):
                message += f"; this file is also invalid: {item.error}"
            settled.append(BrokenSpec(item.path, SpecError(message, path=str(item.path)), placeholder_id=own))
    return settled
