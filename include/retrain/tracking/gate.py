"""The promotion gate: absolute thresholds per head, and no regression against the champion.

Pure logic on metric dictionaries, so every rule is unit-testable. Both models are scored on the same
holdout in the same run before this is called.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from retrain.config import METRIC_DIRECTIONS, GateSpec, HeadSpec

Metrics = dict[str, dict[str, float]]  # head -> metric -> value


@dataclass(frozen=True)
class GateCheck:
    head: str
    metric: str
    rule: str  # "min", "max" or "no_regression"
    candidate: float
    limit: float
    passed: bool
    champion: float | None = None

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        if self.rule == "no_regression":
            return (
                f"{self.head}.{self.metric}: candidate {self.candidate:.4f} vs champion {self.champion:.4f} "
                f"(must not be worse than {self.limit:.4f}) {verdict}"
            )
        sign = ">=" if self.rule == "min" else "<="
        return f"{self.head}.{self.metric}: {self.candidate:.4f} {sign} {self.limit:.4f} {verdict}"


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    checks: list[GateCheck] = field(default_factory=list)
    champion_version: str | None = None

    @property
    def reasons(self) -> list[str]:
        failed = [c.describe() for c in self.checks if not c.passed]
        return failed or ["all thresholds met and no regression against the champion"]

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


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def decide(
    gate: GateSpec,
    heads: list[HeadSpec],
    candidate: Metrics,
    champion: Metrics | None,
    champion_version: str | None = None,
) -> GateDecision:
    """Apply the spec's gate. With no champion yet, only the absolute thresholds apply."""
    checks: list[GateCheck] = []
    for head in heads:
        rules = gate.heads.get(head.name)
        if rules is None:
            continue
        directions = METRIC_DIRECTIONS[head.kind]
        for metric, bound in rules.thresholds.items():
            value = candidate.get(head.name, {}).get(metric, float("nan"))
            if bound.min is not None:
                checks.append(GateCheck(head.name, metric, "min", value, bound.min, _finite(value) and value >= bound.min))
            if bound.max is not None:
                checks.append(GateCheck(head.name, metric, "max", value, bound.max, _finite(value) and value <= bound.max))
        if champion is None:
            continue
        for metric, margin in rules.max_regression.items():
            value = candidate.get(head.name, {}).get(metric, float("nan"))
            reference = champion.get(head.name, {}).get(metric)
            if not _finite(reference):
                continue  # the champion was not scored on this metric; nothing to regress against
            higher_is_better = directions[metric] == "higher"
            limit = reference - margin if higher_is_better else reference + margin
            passed = _finite(value) and (value >= limit if higher_is_better else value <= limit)
            checks.append(GateCheck(head.name, metric, "no_regression", value, limit, passed, champion=reference))
    return GateDecision(promote=all(c.passed for c in checks), checks=checks, champion_version=champion_version)
