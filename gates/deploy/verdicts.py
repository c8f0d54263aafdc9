"""What every canary judge shares: the measured :class:`Observation` of one metric, the per-metric and per-judge
verdicts, and :func:`settle`, the one rule that turns a judge's metric verdicts into its outcome.

The threshold, compare and sequential judges all settle through this module, so "no data is never a pass" and
"not enough evidence is marginal before the last step, inconclusive at it" hold the same way for each of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gates.deploy.evidence import (
    Counts,
    Histogram,
    histogram_quantile,
)
from gates.deploy.queries import MetricSpec

OUTCOMES = ("pass", "marginal", "inconclusive", "fail")
_RANK = {"pass": 0, "marginal": 1, "inconclusive": 2, "fail": 3}
NO_DATA_MODES = ("fail", "inconclusive")


@dataclass
class Observation:
    """What the analysis measured for one metric over one window."""

    metric: MetricSpec
    canary: float | None = None  # series: instant value over the window (track scope) or the pair value
    stable: float | None = None
    canary_points: list[float] = field(default_factory=list)  # series: non-overlapping points (comparison)
    stable_points: list[float] = field(default_factory=list)
    canary_sample: Counts | Histogram | None = None  # ratio / quantile / distribution kinds
    stable_sample: Counts | Histogram | None = None
    queries: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # side -> why it has no data
    thin: dict[str, str] = field(default_factory=dict)  # side -> too little traffic to judge (inconclusive)

    def sample(self, side: str) -> Counts | Histogram | None:
        return self.canary_sample if side == "canary" else self.stable_sample

    def value(self, side: str) -> float | None:
        """The side's value: from its sample for counted kinds, else the instant value."""
        spec = self.metric
        if spec.kind == "series" or spec.scope == "pair":
            return self.canary if side == "canary" else self.stable
        sample = self.sample(side)
        if isinstance(sample, Counts):
            return sample.value
        if isinstance(sample, Histogram):
            return histogram_quantile(spec.quantile, sample)
        return None


@dataclass
class MetricVerdict:
    metric: str
    classification: str  # pass, fail, high, low, nodata, inconclusive
    passed: bool | None  # None: no data (inconclusive mode), too little traffic, or not enough evidence
    why: str
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "classification": self.classification,
            "passed": self.passed,
            "value": self.value,
            "why": self.why,
            **({"details": self.details} if self.details else {}),
        }


@dataclass
class JudgeVerdict:
    judge: str
    outcome: str
    why: str
    metrics: list[MetricVerdict] = field(default_factory=list)
    score: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "outcome": self.outcome,
            "why": self.why,
            "score": self.score,
            "warnings": self.warnings,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def combine(outcomes: Sequence[str]) -> str:
    """The analysis outcome from its judges: fail > inconclusive > marginal > pass; nothing judged is inconclusive."""
    if not outcomes:
        return "inconclusive"
    return max(outcomes, key=lambda o: _RANK[o])


def no_data_verdict(spec: MetricSpec, default: str, why: str) -> MetricVerdict:
    mode = spec.no_data or default
    if mode == "fail":
        return MetricVerdict(spec.name, "nodata", False, f"{why}; no data counts as a failure")
    return MetricVerdict(spec.name, "nodata", None, f"{why}; no data holds the canary (inconclusive)")


def _thin(spec: MetricSpec, why: str) -> MetricVerdict:
    return MetricVerdict(
        spec.name,
        "nodata",
        None,
        f"{spec.name}: {why}: inconclusive, measuring again",
        details={"too_little_traffic": True},
    )


def fmt_value(x: float | None) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:.4g}"


def missing_verdict(
    obs: Observation, sides: Sequence[str], no_data: str, values: bool = True
) -> MetricVerdict | None:
    """The verdict when a needed side is thin (too little traffic) or (``values``) has no data, else None."""
    spec = obs.metric
    thin = [side for side in sides if side in obs.thin]
    if thin:
        return _thin(spec, "; ".join(f"{side}: {obs.thin[side]}" for side in thin))
    if not values:
        return None
    absent = []
    for side in sides:
        if spec.kind == "series":
            present = obs.value(side) is not None and math.isfinite(obs.value(side))  # type: ignore[arg-type]
        else:
            sample = obs.sample(side)
            present = sample is not None and (
                sample.trials > 0 if isinstance(sample, Counts) else sample.total > 0
            )
        if not present:
            absent.append(side)
    if absent:
        return no_data_verdict(
            spec,
            no_data,
            f"{spec.name}: " + "; ".join(f"{side}: {obs.missing.get(side, 'no samples')}" for side in absent),
        )
    return None


def settle(
    judge: str,
    verdicts: list[MetricVerdict],
    final: bool,
    score: float | None = None,
    pass_score: float = 100.0,
    marginal_score: float = 100.0,
    warnings: list[str] | None = None,
    critical_failed: Sequence[str] = (),
) -> JudgeVerdict:
    """One judge's outcome: failures first, then no data, then not-enough-evidence (marginal before the last
    step, inconclusive at it), then the score."""
    warnings = warnings or []
    failed = [v.metric for v in verdicts if v.passed is False]
    nodata = [v.metric for v in verdicts if v.passed is None and v.classification == "nodata"]
    unproven = [v.metric for v in verdicts if v.passed is None and v.classification == "inconclusive"]
    score_text = (
        f"score {score:.0f} (pass >= {pass_score:g}, marginal >= {marginal_score:g}); "
        if score is not None
        else ""
    )
    reasons = "; ".join(v.why for v in verdicts if v.passed is False)
    if critical_failed:
        return JudgeVerdict(
            judge,
            "fail",
            f"{score_text}critical metric failed: {', '.join(critical_failed)} [{reasons}]",
            verdicts,
            0.0 if score is not None else None,
            warnings,
        )
    blind = [v for v in verdicts if v.classification == "nodata" and v.passed is False]
    if blind:  # missing evidence is never outvoted by the metrics that have some: no data, no promotion
        return JudgeVerdict(
            judge,
            "fail",
            f"{score_text}no data for {', '.join(v.metric for v in blind)} "
            f"[{'; '.join(v.why for v in blind)}]",
            verdicts,
            score,
            warnings,
        )
    by_score = "pass"
    if score is not None:
        by_score = (
            "pass"
            if score >= pass_score
            else ("marginal" if score >= marginal_score and not final else "fail")
        )
    elif failed:
        by_score = "fail"
    if by_score == "fail":
        return JudgeVerdict(
            judge, "fail", f"{score_text}failed: {', '.join(failed)} [{reasons}]", verdicts, score, warnings
        )
    if nodata:
        return JudgeVerdict(
            judge,
            "inconclusive",
            f"{score_text}no data or too little traffic: {', '.join(nodata)}"
            + (f"; failing: {', '.join(failed)}" if failed else ""),
            verdicts,
            score,
            warnings,
        )
    if unproven:
        outcome = "inconclusive" if final else "marginal"
        return JudgeVerdict(
            judge,
            outcome,
            f"{score_text}not enough evidence yet to rule out a regression: "
            f"{', '.join(unproven)}"
            + (" (last step: measuring again)" if final else " (going on; the last step must pass)")
            + (f"; failing: {', '.join(failed)}" if failed else ""),
            verdicts,
            score,
            warnings,
        )
    if by_score == "marginal":
        return JudgeVerdict(
            judge, "marginal", f"{score_text}failing: {', '.join(failed)}", verdicts, score, warnings
        )
    return JudgeVerdict(
        judge, "pass", f"{score_text}{len(verdicts)} metric(s) pass".strip(), verdicts, score, warnings
    )


def two_sided(confidence: float) -> float:
    """The one-sided level of each bound of a two-sided interval at ``confidence``."""
    return 1.0 - (1.0 - confidence) / 2.0
