"""Canary judges: pure functions from measured values to a verdict, testable without Prometheus or a cluster.

Two judges, each returning a :class:`JudgeVerdict` with outcome ``pass``, ``marginal``, ``fail`` or ``inconclusive``:

- :func:`threshold_judge` (Flagger-like): each metric's canary value (over the analysis window) against absolute
  limits (``min`` / ``max``) and, optionally, against the stable track (``max_increase``). A failed analysis counts
  one failed check; the canary loop rolls back when the count reaches the failure limit.
- :func:`compare_judge` (Kayenta-like): canary and stable series over the same window; a two-sided Mann-Whitney U
  test at ``confidence`` (default 0.98) and an effect-size gate (Hodges-Lehmann shift within ``tolerance`` of the
  stable median, default ±25%, or the mean ratio) classify each metric Pass / High / Low / NoData. The score is the
  share of metrics that pass; a failing critical metric makes the score 0. The score against ``pass_score`` and
  ``marginal_score`` gives the outcome.

No data is never a pass: per metric (or the analysis default) it is ``fail`` or ``inconclusive`` (hold the canary
and measure again). Fewer than ``min_points`` points per side are judged but flagged with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from gates.deploy.queries import MetricSpec

OUTCOMES = ("pass", "marginal", "inconclusive", "fail")
_RANK = {"pass": 0, "marginal": 1, "inconclusive": 2, "fail": 3}
NO_DATA_MODES = ("fail", "inconclusive")


@dataclass
class Observation:
    """What the analysis measured for one metric over one window."""

    metric: MetricSpec
    canary: float | None = None  # instant value over the window (track scope) or the pair value (pair scope)
    stable: float | None = None
    canary_points: list[float] = field(default_factory=list)  # series over the window (comparison judge)
    stable_points: list[float] = field(default_factory=list)
    queries: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # side -> why it has no data


@dataclass
class MetricVerdict:
    metric: str
    classification: str  # pass, fail, high, low, nodata
    passed: bool | None  # None: no data under the inconclusive mode
    why: str
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "classification": self.classification, "passed": self.passed,
                "value": self.value, "why": self.why, **({"details": self.details} if self.details else {})}


@dataclass
class JudgeVerdict:
    judge: str
    outcome: str
    why: str
    metrics: list[MetricVerdict] = field(default_factory=list)
    score: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "outcome": self.outcome, "why": self.why, "score": self.score,
                "warnings": self.warnings, "metrics": [m.to_dict() for m in self.metrics]}


def combine(outcomes: Sequence[str]) -> str:
    """The analysis outcome from its judges: fail > inconclusive > marginal > pass; nothing judged is inconclusive."""
    if not outcomes:
        return "inconclusive"
    return max(outcomes, key=lambda o: _RANK[o])


def _no_data(spec: MetricSpec, default: str, why: str) -> MetricVerdict:
    mode = spec.no_data or default
    if mode == "fail":
        return MetricVerdict(spec.name, "nodata", False, f"{why}; no data counts as a failure")
    return MetricVerdict(spec.name, "nodata", None, f"{why}; no data holds the canary (inconclusive)")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


# -- Flagger-like thresholds -------------------------------------------------------------------------------------
def threshold_judge(observations: Sequence[Observation], no_data: str = "fail") -> JudgeVerdict | None:
    """Absolute limits on the canary's value; None when no metric has a threshold."""
    verdicts: list[MetricVerdict] = []
    for obs in observations:
        spec = obs.metric
        if not spec.has_threshold:
            continue
        if obs.canary is None or not math.isfinite(obs.canary):
            verdicts.append(_no_data(spec, no_data, f"{spec.name}: {obs.missing.get('canary', 'no canary value')}"))
            continue
        value, problems = obs.canary, []
        if spec.max is not None and value > spec.max:
            problems.append(f"{_fmt(value)} above the maximum {_fmt(spec.max)}")
        if spec.min is not None and value < spec.min:
            problems.append(f"{_fmt(value)} below the minimum {_fmt(spec.min)}")
        details: dict[str, Any] = {"min": spec.min, "max": spec.max}
        if spec.max_increase is not None:
            if obs.stable is None or not math.isfinite(obs.stable):
                verdicts.append(_no_data(spec, no_data,
                                         f"{spec.name}: {obs.missing.get('stable', 'no stable value')} "
                                         f"(needed for max_increase)"))
                continue
            details.update(stable=obs.stable, max_increase=spec.max_increase)
            if value - obs.stable > spec.max_increase:
                problems.append(f"{_fmt(value)} is {_fmt(value - obs.stable)} above stable {_fmt(obs.stable)} "
                                f"(allowed +{_fmt(spec.max_increase)})")
        if problems:
            verdicts.append(MetricVerdict(spec.name, "fail", False, f"{spec.name} " + "; ".join(problems),
                                          value, details))
        else:
            verdicts.append(MetricVerdict(spec.name, "pass", True, f"{spec.name} {_fmt(value)} within limits",
                                          value, details))
    if not verdicts:
        return None
    failed = [v.metric for v in verdicts if v.passed is False]
    unknown = [v.metric for v in verdicts if v.passed is None]
    if failed:
        outcome, why = "fail", f"failed: {', '.join(failed)}"
    elif unknown:
        outcome, why = "inconclusive", f"no data: {', '.join(unknown)}"
    else:
        outcome, why = "pass", f"{len(verdicts)} metric(s) within limits"
    return JudgeVerdict("threshold", outcome, why, verdicts)


# -- Kayenta-like comparison -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompareSettings:
    confidence: float = 0.98
    tolerance: float = 0.25
    effect: str = "hodges_lehmann"  # or mean_ratio
    pass_score: float = 95.0
    marginal_score: float = 75.0
    min_points: int = 50
    no_data: str = "fail"
    final: bool = False  # at the last step a marginal score is not enough


def hodges_lehmann(canary: np.ndarray, stable: np.ndarray, max_pairs: int = 250_000) -> float:
    """Median of all pairwise differences canary - stable (a deterministic subsample above max_pairs)."""
    if canary.size * stable.size > max_pairs:
        rng = np.random.default_rng(0)
        i = rng.integers(0, canary.size, max_pairs)
        j = rng.integers(0, stable.size, max_pairs)
        return float(np.median(canary[i] - stable[j]))
    return float(np.median(np.subtract.outer(canary, stable)))


def classify(spec: MetricSpec, canary_points: Sequence[float], stable_points: Sequence[float],
             settings: CompareSettings) -> MetricVerdict:
    """Pass / High / Low for one metric from two samples (both non-empty)."""
    from scipy.stats import mannwhitneyu

    c = np.asarray([x for x in canary_points if math.isfinite(x)], dtype=float)
    s = np.asarray([x for x in stable_points if math.isfinite(x)], dtype=float)
    tolerance = spec.tolerance if spec.tolerance is not None else settings.tolerance
    alpha = 1.0 - settings.confidence
    hl = hodges_lehmann(c, s)
    stable_median, stable_mean, canary_mean = float(np.median(s)), float(np.mean(s)), float(np.mean(c))
    mean_ratio = canary_mean / stable_mean if stable_mean != 0 else (math.inf if canary_mean > 0 else 1.0)
    if np.ptp(np.concatenate([c, s])) == 0:
        p_value = 1.0  # identical constant samples: no difference at all
    else:
        p_value = float(mannwhitneyu(c, s, alternative="two-sided").pvalue)
    if settings.effect == "mean_ratio":
        allowed = max(tolerance * abs(stable_mean), spec.min_effect)
        effect = canary_mean - stable_mean
        effect_text = f"mean ratio {_fmt(mean_ratio)} (tolerance ±{tolerance:.0%})"
    else:
        allowed = max(tolerance * abs(stable_median), spec.min_effect)
        effect = hl
        effect_text = f"Hodges-Lehmann shift {_fmt(hl)} vs stable median {_fmt(stable_median)} " \
                      f"(tolerance ±{_fmt(allowed)})"
    details = {"p_value": p_value, "alpha": alpha, "hodges_lehmann": hl, "mean_ratio": mean_ratio,
               "canary_mean": canary_mean, "stable_mean": stable_mean, "stable_median": stable_median,
               "canary_points": int(c.size), "stable_points": int(s.size), "allowed_effect": allowed,
               "direction": spec.direction, "critical": spec.critical}
    if p_value >= alpha:
        return MetricVerdict(spec.name, "pass", True,
                             f"{spec.name}: no significant difference (p={p_value:.3g} >= {alpha:.3g})",
                             hl, details)
    if abs(effect) <= allowed:
        return MetricVerdict(spec.name, "pass", True,
                             f"{spec.name}: significant (p={p_value:.3g}) but within tolerance: {effect_text}",
                             hl, details)
    kind = "high" if effect > 0 else "low"
    bad = spec.direction == "either" or (spec.direction == "increase") == (kind == "high")
    why = f"{spec.name}: canary {kind.upper()} (p={p_value:.3g}, {effect_text})"
    if not bad:
        why += f"; allowed direction ({spec.direction} is the regression)"
    return MetricVerdict(spec.name, kind, not bad, why, hl, details)


def compare_judge(observations: Sequence[Observation], settings: CompareSettings = CompareSettings()
                  ) -> JudgeVerdict | None:
    """Canary vs stable on the same window; None when no metric takes part."""
    verdicts: list[MetricVerdict] = []
    warnings: list[str] = []
    critical_failed: list[str] = []
    for obs in observations:
        spec = obs.metric
        if not spec.compare or spec.scope != "track":
            continue
        c = [x for x in obs.canary_points if math.isfinite(x)]
        s = [x for x in obs.stable_points if math.isfinite(x)]
        if not c or not s:
            sides = [side for side, pts in (("canary", c), ("stable", s)) if not pts]
            why = "; ".join(f"{side}: {obs.missing.get(side, 'no points')}" for side in sides)
            verdict = _no_data(spec, settings.no_data, f"{spec.name}: {why}")
        else:
            verdict = classify(spec, c, s, settings)
            if min(len(c), len(s)) < settings.min_points:
                warnings.append(f"{spec.name}: {len(c)} canary / {len(s)} stable points, fewer than "
                                f"{settings.min_points} per side: the test has little power")
        if verdict.passed is False and spec.critical:
            critical_failed.append(spec.name)
        verdicts.append(verdict)
    if not verdicts:
        return None
    unknown = [v.metric for v in verdicts if v.passed is None]
    judged = [v for v in verdicts if v.passed is not None]
    if unknown:
        failed_now = [v.metric for v in judged if v.passed is False]
        if critical_failed:
            return JudgeVerdict("compare", "fail", f"critical metric failed: {', '.join(critical_failed)}",
                                verdicts, 0.0, warnings)
        return JudgeVerdict("compare", "inconclusive", f"no data: {', '.join(unknown)}"
                            + (f"; failing: {', '.join(failed_now)}" if failed_now else ""),
                            verdicts, None, warnings)
    score = 100.0 * sum(1 for v in judged if v.passed) / len(judged)
    if critical_failed:
        score = 0.0
    if score >= settings.pass_score:
        outcome = "pass"
    elif score >= settings.marginal_score and not settings.final:
        outcome = "marginal"
    else:
        outcome = "fail"
    failing = [v.metric for v in judged if not v.passed]
    why = f"score {score:.0f} (pass >= {settings.pass_score:g}, marginal >= {settings.marginal_score:g})"
    if critical_failed:
        why += f"; critical metric failed: {', '.join(critical_failed)}"
    elif failing:
        why += f"; failing: {', '.join(failing)}"
    return JudgeVerdict("compare", outcome, why, verdicts, score, warnings)
