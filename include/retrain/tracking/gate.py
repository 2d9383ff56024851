"""The promotion gate: absolute thresholds per head, and no regression against the champion.

Pure logic on metric dictionaries, so every rule is unit-testable. Both models are scored on the same
holdout in the same run before this is called.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from retrain.config import METRIC_DIRECTIONS, GateSpec, HeadGate, HeadSpec
from retrain.training.metrics import LOSS_METRIC

Metrics = dict[str, dict[str, float]]  # head -> metric -> value


@dataclass(frozen=True)
class GateCheck:
    head: str
    metric: str
    rule: str  # "min", "max", "no_regression", "min_improvement", "significant_improvement", "leak_free_holdout"
    candidate: float  # or "identical_to_champion"
    limit: float
    passed: bool
    champion: float | None = None
    note: str = ""

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        if self.rule == "leak_free_holdout":
            return (
                f"holdout: {int(self.candidate)} of its rows were in the champion's training data ({self.note}); "
                f"the gate does not compare models on rows one of them trained on (must be {int(self.limit)}) {verdict}"
            )
        if self.rule == "min_holdout_examples":
            return (f"{self.head}: the holdout holds {self.note}; its metrics are judged on at least {int(self.limit)} "
                    f"{'of each class' if self.metric == 'holdout_rows_per_class' else 'rows'} (gate.min_holdout_examples), as fewer "
                    f"move too much by chance; a longer data.training_window_days or a larger "
                    f"data.holdout_fraction gives more {verdict}")
        if self.rule == "shadow_pending":
            return f"another challenger is in shadow ({self.note}); this one waits for its outcome {verdict}"
        if self.rule == "identical_to_champion":
            return f"candidate is identical to the champion ({self.note}): promoting it would change nothing {verdict}"
        if self.rule == "min_improvement":
            return (
                f"{self.head}.{self.metric}: candidate {self.candidate:.4f} vs champion {self.champion:.4f} "
                f"(must reach {self.limit:.4f}) {verdict}"
            )
        if self.rule == "no_regression":
            return (
                f"{self.head}.{self.metric}: candidate {self.candidate:.4f} vs champion {self.champion:.4f} "
                f"(must not be worse than {self.limit:.4f}{'; ' + self.note if self.note else ''}) {verdict}"
            )
        if self.rule == "significant_improvement":
            return (
                f"{self.head}.{self.metric}: improvement over champion {self.champion:.4f} has a "
                f"confidence-interval lower bound of {self.candidate:+.4f} (must be > {self.limit:+.4f}) {verdict}"
            )
        sign = ">=" if self.rule == "min" else "<="
        if not _finite(self.candidate):
            return (f"{self.head}.{self.metric}: undefined on the holdout rows ({self.metric} needs "
                    f"{_DEFINED_WHEN.get(self.metric, 'more holdout rows')}), so not {sign} {self.limit:.4f} {verdict}")
        return f"{self.head}.{self.metric}: {self.candidate:.4f} {sign} {self.limit:.4f} {verdict}"


# Why a metric can come out NaN: what the holdout rows lacked.
_DEFINED_WHEN = {"roc_auc": "both label classes among them", "r2": "a label that varies among them"}


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    checks: list[GateCheck] = field(default_factory=list)
    champion_version: str | None = None

    @property
    def reasons(self) -> list[str]:
        failed = [c.describe() for c in self.checks if not c.passed]
        if not self.checks:
            return ["nothing to check: the spec's gate sets no threshold and there is no champion yet"]
        if failed:
            return failed
        return ["all thresholds met " + ("(no champion yet to compare with)" if self.champion_version is None
                                         else "and no regression against the champion")]

    def summary(self) -> str:
        verdict = "PROMOTE" if self.promote else "REJECT"
        return f"{verdict}: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        return {
            "promote": self.promote,
            "champion_version": self.champion_version,
            "reasons": self.reasons,
            "checks": [asdict(c) for c in self.checks],
        }


# A spec whose gate names no head: no thresholds, and each head's loss may not get worse than the champion's.
_UNGATED = {kind: HeadGate(max_regression={metric: 0.0}) for kind, metric in LOSS_METRIC.items()}


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _same_metrics(candidate: Metrics, champion: Metrics) -> bool:
    """Every metric of every head equal (NaN equals NaN): nothing measurable changed."""
    if candidate.keys() != champion.keys():
        return False
    for head, metrics in candidate.items():
        other = champion[head]
        if metrics.keys() != other.keys():
            return False
        for name, value in metrics.items():
            if not (value == other[name] or (not _finite(value) and not _finite(other[name]))):
                return False
    return True


def decide(
    gate: GateSpec,
    heads: list[HeadSpec],
    candidate: Metrics,
    champion: Metrics | None,
    champion_version: str | None = None,
    significance: dict[str, dict[str, dict[str, float]]] | None = None,
    *,
    champion_seen_holdout_rows: int = 0,
    seen_how: str = "",
    same_spec_and_data: bool = False,
    holdout_rows: int | None = None,
) -> GateDecision:
    """Apply the spec's gate. With no champion yet, only the absolute thresholds apply.

    ``significance[head][metric]`` holds a bootstrap interval of the improvement over the champion
    (``low``, ``high``; positive means better), from ``bootstrap_improvement``. The comparison with the
    champion is refused when ``champion_seen_holdout_rows`` (holdout rows the champion trained on) is not 0,
    and a candidate from the champion's spec and data with the champion's metrics does not replace it.
    With ``holdout_rows``, a gated head whose holdout holds fewer than ``gate.min_holdout_examples`` rows (of
    each class, for a binary head: counted from its ``positive_rate``) fails.
    """
    checks: list[GateCheck] = []
    if champion is not None and champion_seen_holdout_rows:
        checks.append(GateCheck("holdout", "champion_seen_rows", "leak_free_holdout", float(champion_seen_holdout_rows),
                                0.0, False, note=seen_how or f"champion version {champion_version}"))
    if champion is not None and same_spec_and_data and _same_metrics(candidate, champion):
        checks.append(GateCheck("*", "*", "identical_to_champion", 0.0, 0.0, False,
                                note=f"version {champion_version}: same spec, same data, same holdout metrics"))
    for head in heads:
        rules = gate.heads.get(head.name) if gate.heads else _UNGATED[head.kind]
        if rules is None:
            continue
        directions = METRIC_DIRECTIONS[head.kind]
        partly_labeled = "labeled_rows" in candidate.get(head.name, {})  # judged on the rows with its label
        if holdout_rows is not None and (gate.heads or partly_labeled):
            checks.append(_enough_examples(head, holdout_rows, candidate.get(head.name, {}), gate.min_holdout_examples))
        for metric, bound in rules.thresholds.items():
            value = candidate.get(head.name, {}).get(metric, float("nan"))
            if bound.min is not None:
                checks.append(GateCheck(head.name, metric, "min", value, bound.min, _finite(value) and value >= bound.min))
            if bound.max is not None:
                checks.append(GateCheck(head.name, metric, "max", value, bound.max, _finite(value) and value <= bound.max))
        if champion is None:
            continue
        # a metric gated by a threshold does not regress either: margin 0 unless max_regression names one
        margins = {**dict.fromkeys(rules.thresholds, 0.0), **rules.max_regression}
        for metric, margin in margins.items():
            value = candidate.get(head.name, {}).get(metric, float("nan"))
            reference = champion.get(head.name, {}).get(metric)
            if not _finite(reference):
                continue  # the champion was not scored on this metric; nothing to regress against
            higher_is_better = directions[metric] == "higher"
            limit = reference - margin if higher_is_better else reference + margin
            passed = _finite(value) and (value >= limit if higher_is_better else value <= limit)
            if not gate.heads:
                default = "the spec's gate names no head, so each head's loss may not get worse"
            else:
                default = "" if metric in rules.max_regression else "no max_regression set for it, so no margin"
            checks.append(GateCheck(head.name, metric, "no_regression", value, limit, passed, champion=reference,
                                    note=default))
        for metric, margin in rules.min_improvement.items():
            value = candidate.get(head.name, {}).get(metric, float("nan"))
            reference = champion.get(head.name, {}).get(metric)
            if not _finite(reference):
                continue
            higher_is_better = directions[metric] == "higher"
            limit = reference + margin if higher_is_better else reference - margin
            passed = _finite(value) and (value >= limit if higher_is_better else value <= limit)
            checks.append(GateCheck(head.name, metric, "min_improvement", value, limit, passed, champion=reference))
        for metric in rules.require_significant_improvement:
            interval = (significance or {}).get(head.name, {}).get(metric)
            reference = champion.get(head.name, {}).get(metric, float("nan"))
            low = interval["low"] if interval else float("nan")
            checks.append(
                GateCheck(head.name, metric, "significant_improvement", low, 0.0, _finite(low) and low > 0,
                          champion=reference)
            )
    return GateDecision(promote=all(c.passed for c in checks), checks=checks, champion_version=champion_version)


def _enough_examples(head: HeadSpec, rows: int, metrics: dict[str, float], minimum: int) -> GateCheck:
    """Whether the holdout holds enough rows (of each class, for a binary head) to judge the head at all: rows
    with this head's label, when some have none (``labeled_rows``)."""
    labeled = metrics.get("labeled_rows")
    if labeled is not None:
        rows, labeled_note = int(labeled), f" of {rows:,} rows with this head's label"
    else:
        labeled_note = " rows"
    if head.kind != "binary" or not _finite(metrics.get("positive_rate")):
        return GateCheck(head.name, "holdout_rows", "min_holdout_examples", float(rows), float(minimum),
                         rows >= minimum, note=f"{rows:,}{labeled_note}")
    positives = round(metrics["positive_rate"] * rows)
    fewest = min(positives, rows - positives)
    return GateCheck(head.name, "holdout_rows_per_class", "min_holdout_examples", float(fewest), float(minimum),
                     fewest >= minimum, note=f"{positives:,} positive and {rows - positives:,} negative rows")


def bootstrap_improvement(
    kind: str,
    metric: str,
    y_true,
    candidate_pred,
    champion_pred,
    samples: int,
    confidence: float,
    seed: int = 0,
) -> dict[str, float]:
    """Bootstrap interval of the candidate's improvement over the champion on the same holdout rows.

    Rows are resampled with replacement; both models are scored on each resample. The improvement is
    oriented so that positive is better whatever the metric's direction.
    """
    import numpy as np

    from retrain.training.metrics import head_metrics, labeled_rows

    labeled = labeled_rows(y_true)  # rows missing this head's label are not resampled
    y_true, candidate_pred, champion_pred = (np.asarray(a)[labeled] for a in (y_true, candidate_pred, champion_pred))
    sign = 1.0 if METRIC_DIRECTIONS[kind][metric] == "higher" else -1.0  # type: ignore[index]
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(samples):
        idx = rng.integers(0, len(y_true), len(y_true))
        a = head_metrics(kind, y_true[idx], candidate_pred[idx])[metric]
        b = head_metrics(kind, y_true[idx], champion_pred[idx])[metric]
        deltas.append(sign * (a - b))
    alpha = (1 - confidence) / 2
    full = sign * (head_metrics(kind, y_true, candidate_pred)[metric] - head_metrics(kind, y_true, champion_pred)[metric])
    return {
        "delta": float(full),
        "low": float(np.nanquantile(deltas, alpha)),
        "high": float(np.nanquantile(deltas, 1 - alpha)),
    }
