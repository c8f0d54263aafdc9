"""Canary judges: pure functions from measured values to a verdict, testable without Prometheus or a cluster.

Two judges, each returning a :class:`JudgeVerdict` with outcome ``pass``, ``marginal``, ``fail`` or ``inconclusive``:

- :func:`threshold_judge` (Flagger-like): each metric's canary value against absolute limits (``min`` / ``max``)
  and, optionally, against the stable track (``max_increase``). A failed analysis counts one failed check; the
  canary loop rolls back when ``failure_limit`` analyses in a row failed.
- :func:`compare_judge` (Kayenta-like): canary against stable over the same window; each metric is classified
  Pass / High / Low / NoData (or Inconclusive, below); the score is the share of decided metrics that pass; a
  failing critical metric makes the score 0. The score against ``pass_score`` and ``marginal_score`` gives the
  outcome.

A decision must not flip on noise, so both judges decide on request-level evidence where the metric has it
(``kind`` ratio / quantile / distribution, see :mod:`gates.deploy.evidence`), and three ways:

- **fail** only on evidence: a limit is exceeded by the bound of the interval at ``confidence`` (two-sided, so
  0.98 leaves 1% on each side), or the canary is worse than stable by a significant test (one-sided at
  (1 - confidence) / 2 in the metric's bad direction) *and* by more than the tolerance (Kayenta's effect-size
  gate: ``max(tolerance * stable, min_effect)``);
- **pass** only on evidence: the interval's bound is within the limit, or the canary's bound is within
  ``max(margin * stable, min_effect)`` of stable (a regression that large is ruled out);
- otherwise the metric is **inconclusive**: no sign of a regression, but too little evidence to rule one out.
  Before the last step that is ``marginal`` (the canary goes on, as Kayenta's marginal score does, and the
  growing window gathers more); at the last step it is ``inconclusive`` (measure again; never promote).

``series`` metrics (gauges, custom queries) keep the point value for limits and a Mann-Whitney U test over
non-overlapping points (Hodges-Lehmann or mean-ratio effect) for the comparison; fewer points than can ever reach
the confidence are inconclusive, fewer than ``min_points`` are judged with a warning. No data is never a pass,
nor outvoted by the score of the metrics that have data: per metric (or the analysis default) it fails or holds
the judge (``fail`` or ``inconclusive``); too little traffic (fewer requests than ``min_requests``) is always
inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gates.deploy.evidence import (
    Counts,
    Histogram,
    binned_mann_whitney,
    compare_rates,
    histogram_quantile,
    ks_bounds,
    quantile_bounds,
    rate_bounds,
)
from gates.deploy.queries import DEFAULT_TOLERANCE, MetricSpec

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


def _no_data(spec: MetricSpec, default: str, why: str) -> MetricVerdict:
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


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:.4g}"


def _missing(
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
        return _no_data(
            spec,
            no_data,
            f"{spec.name}: " + "; ".join(f"{side}: {obs.missing.get(side, 'no samples')}" for side in absent),
        )
    return None


def _settle(
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


# -- Flagger-like thresholds -------------------------------------------------------------------------------------
def _bounds(
    obs: Observation, side: str, confidence: float
) -> tuple[float | None, float, float, dict[str, Any]]:
    """(value, lower, upper, details) of one side: bounds from the evidence, or the point for series metrics."""
    spec, sample = obs.metric, obs.sample(side)
    level = two_sided(confidence)
    if spec.kind == "ratio" and isinstance(sample, Counts):
        lo, hi = rate_bounds(sample, level)
        return sample.value, lo, hi, {"events": round(sample.events, 2), "trials": round(sample.trials, 2)}
    if spec.kind == "quantile" and isinstance(sample, Histogram):
        lo, hi = quantile_bounds(spec.quantile, sample, level)
        return histogram_quantile(spec.quantile, sample), lo, hi, {"requests": round(sample.total, 2)}
    value = obs.value(side)
    return value, value if value is not None else math.nan, value if value is not None else math.nan, {}


def threshold_judge(
    observations: Sequence[Observation], no_data: str = "fail", confidence: float = 0.98, final: bool = False
) -> JudgeVerdict | None:
    """Absolute limits on the canary's value; None when no metric has a threshold."""
    verdicts: list[MetricVerdict] = []
    for obs in observations:
        spec = obs.metric
        if not spec.has_threshold:
            continue
        pair = spec.scope == "pair"
        sides = (
            ["canary", "stable"]
            if (pair and spec.kind == "distribution") or spec.max_increase is not None
            else ["canary"]
        )
        missing = _missing(obs, sides, no_data)
        if missing is not None:
            verdicts.append(missing)
            continue
        details: dict[str, Any] = {"min": spec.min, "max": spec.max, "kind": spec.kind}
        value: float | None
        if spec.kind == "distribution":
            canary_hist, stable_hist = obs.canary_sample, obs.stable_sample
            assert isinstance(canary_hist, Histogram) and isinstance(stable_hist, Histogram)
            ks = ks_bounds(canary_hist, stable_hist, confidence)
            value, lo, hi = ks.distance, ks.lower, ks.upper
            details.update(
                canary_requests=round(canary_hist.total, 2),
                stable_requests=round(stable_hist.total, 2),
            )
        else:
            value, lo, hi, extra = _bounds(obs, "canary", confidence)
            details.update(extra)
        if value is None or not math.isfinite(value):
            verdicts.append(
                _no_data(spec, no_data, f"{spec.name}: {obs.missing.get('canary', 'no canary value')}")
            )
            continue
        upper_limit, lower_limit = spec.max, spec.min
        if spec.max_increase is not None:
            stable = obs.value("stable")
            if stable is None or not math.isfinite(stable):
                verdicts.append(
                    _no_data(
                        spec,
                        no_data,
                        f"{spec.name}: {obs.missing.get('stable', 'no stable value')}"
                        f" (needed for max_increase)",
                    )
                )
                continue
            details.update(stable=stable, max_increase=spec.max_increase)
            limit = stable + spec.max_increase
            upper_limit = limit if upper_limit is None else min(upper_limit, limit)
        counted = spec.kind != "series"
        if counted:
            details.update(lower=lo, upper=hi, confidence=confidence)
        interval = f" ({confidence:.0%} interval {_fmt(lo)} to {_fmt(hi)})" if counted else ""
        beyond, unsure = [], []
        if upper_limit is not None:
            if lo > upper_limit:
                beyond.append(f"{_fmt(value)}{interval} above the maximum {_fmt(upper_limit)}")
            elif hi > upper_limit:
                unsure.append(f"{_fmt(value)}{interval} reaches above the maximum {_fmt(upper_limit)}")
        if lower_limit is not None:
            if hi < lower_limit:
                beyond.append(f"{_fmt(value)}{interval} below the minimum {_fmt(lower_limit)}")
            elif lo < lower_limit:
                unsure.append(f"{_fmt(value)}{interval} reaches below the minimum {_fmt(lower_limit)}")
        if beyond:
            verdicts.append(
                MetricVerdict(spec.name, "fail", False, f"{spec.name} " + "; ".join(beyond), value, details)
            )
        elif unsure:
            verdicts.append(
                MetricVerdict(
                    spec.name,
                    "inconclusive",
                    None,
                    f"{spec.name} " + "; ".join(unsure) + ": not enough requests to tell",
                    value,
                    details,
                )
            )
        else:
            verdicts.append(
                MetricVerdict(
                    spec.name,
                    "pass",
                    True,
                    f"{spec.name} {_fmt(value)}{interval} within limits",
                    value,
                    details,
                )
            )
    if not verdicts:
        return None
    return _settle("threshold", verdicts, final)


# -- Kayenta-like comparison -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompareSettings:
    confidence: float = 0.98
    tolerance: float = 0.25
    margin: float = 1.0  # a pass rules out a regression of more than margin * stable (counted kinds)
    effect: str = "hodges_lehmann"  # or mean_ratio (series kind)
    pass_score: float = 95.0
    marginal_score: float = 75.0
    min_points: int = 50
    no_data: str = "fail"
    final: bool = False  # at the last step a marginal score is not enough, nor is thin evidence


def hodges_lehmann(canary: np.ndarray, stable: np.ndarray, max_pairs: int = 250_000) -> float:
    """Median of all pairwise differences canary - stable (a deterministic subsample above max_pairs)."""
    if canary.size * stable.size > max_pairs:
        rng = np.random.default_rng(0)
        i = rng.integers(0, canary.size, max_pairs)
        j = rng.integers(0, stable.size, max_pairs)
        return float(np.median(canary[i] - stable[j]))
    return float(np.median(np.subtract.outer(canary, stable)))


def _direction_p(spec: MetricSpec, p_higher: float, p_lower: float) -> float:
    """The p-value for a regression in the metric's bad direction (two-sided for ``either``)."""
    if spec.direction == "increase":
        return p_higher
    if spec.direction == "decrease":
        return p_lower
    return min(1.0, 2 * min(p_higher, p_lower))


def _min_mw_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value a Mann-Whitney test on n1 and n2 points can give."""
    return 2.0 / math.comb(n1 + n2, n1) if n1 + n2 < 60 else 0.0


def classify(
    spec: MetricSpec,
    canary_points: Sequence[float],
    stable_points: Sequence[float],
    settings: CompareSettings,
) -> MetricVerdict:
    """Series kind: Pass / High / Low / Inconclusive from two samples of points (both non-empty)."""
    from scipy.stats import mannwhitneyu

    c = np.asarray([x for x in canary_points if math.isfinite(x)], dtype=float)
    s = np.asarray([x for x in stable_points if math.isfinite(x)], dtype=float)
    tolerance = (
        spec.tolerance if spec.tolerance is not None else DEFAULT_TOLERANCE.get(spec.name, settings.tolerance)
    )
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
        effect_text = (
            f"Hodges-Lehmann shift {_fmt(hl)} vs stable median {_fmt(stable_median)} "
            f"(tolerance ±{_fmt(allowed)})"
        )
    details = {
        "kind": "series",
        "test": "mann-whitney on points",
        "p_value": p_value,
        "alpha": alpha,
        "hodges_lehmann": hl,
        "mean_ratio": mean_ratio,
        "canary_mean": canary_mean,
        "stable_mean": stable_mean,
        "stable_median": stable_median,
        "canary_points": int(c.size),
        "stable_points": int(s.size),
        "allowed_effect": allowed,
        "direction": spec.direction,
        "critical": spec.critical,
    }
    if p_value >= alpha and _min_mw_p(c.size, s.size) >= alpha:
        return MetricVerdict(
            spec.name,
            "inconclusive",
            None,
            f"{spec.name}: {c.size} canary / {s.size} stable points can never reach confidence "
            f"{settings.confidence:g} (add points: a finer resolution or a longer window)",
            hl,
            details,
        )
    if p_value >= alpha:
        return MetricVerdict(
            spec.name,
            "pass",
            True,
            f"{spec.name}: no significant difference (p={p_value:.3g} >= {alpha:.3g})",
            hl,
            details,
        )
    if abs(effect) <= allowed:
        return MetricVerdict(
            spec.name,
            "pass",
            True,
            f"{spec.name}: significant (p={p_value:.3g}) but within tolerance: {effect_text}",
            hl,
            details,
        )
    kind = "high" if effect > 0 else "low"
    bad = spec.direction == "either" or (spec.direction == "increase") == (kind == "high")
    why = f"{spec.name}: canary {kind.upper()} (p={p_value:.3g}, {effect_text})"
    if not bad:
        why += f"; allowed direction ({spec.direction} is the regression)"
    return MetricVerdict(spec.name, kind, not bad, why, hl, details)


def classify_counted(obs: Observation, settings: CompareSettings) -> MetricVerdict:
    """Ratio / quantile kinds: a test on the requests (rate comparison, binned rank test), the effect-size gate,
    and the evidence a pass needs (the canary's bound within ``margin`` of stable)."""
    spec = obs.metric
    tolerance = (
        spec.tolerance if spec.tolerance is not None else DEFAULT_TOLERANCE.get(spec.name, settings.tolerance)
    )
    margin = spec.margin if spec.margin is not None else settings.margin
    level = two_sided(settings.confidence)
    alpha_one = 1.0 - level
    canary, stable = obs.canary_sample, obs.stable_sample
    c_value: float | None
    s_value: float | None
    if spec.kind == "ratio":
        assert isinstance(canary, Counts) and isinstance(stable, Counts)
        test = compare_rates(canary, stable)
        p_higher, p_lower = test.p_higher, test.p_lower
        c_value, s_value = test.canary, test.stable
        lo, hi = rate_bounds(canary, level)
        details: dict[str, Any] = {
            "test": "exact comparison of two rates",
            "canary": canary.to_dict(),
            "stable": stable.to_dict(),
            "ratio": test.ratio,
        }
    else:
        assert isinstance(canary, Histogram) and isinstance(stable, Histogram)
        if canary.bounds != stable.bounds:
            return MetricVerdict(
                spec.name,
                "nodata",
                None,
                f"{spec.name}: canary and stable histograms have different buckets; cannot compare",
            )
        rank = binned_mann_whitney(canary, stable)
        p_higher, p_lower = rank.p_higher, rank.p_lower
        c_value = histogram_quantile(spec.quantile, canary)
        s_value = histogram_quantile(spec.quantile, stable)
        lo, hi = quantile_bounds(spec.quantile, canary, level)
        details = {
            "test": "mann-whitney on histogram buckets",
            "z": rank.z,
            "auc": rank.auc,
            "canary_requests": round(canary.total, 2),
            "stable_requests": round(stable.total, 2),
        }
    if c_value is None or s_value is None:
        return MetricVerdict(spec.name, "nodata", None, f"{spec.name}: empty histogram")
    p_bad = _direction_p(spec, p_higher, p_lower)
    effect = c_value - s_value
    allowed = max(tolerance * abs(s_value), spec.min_effect)
    ruled_out = max(margin * abs(s_value), spec.min_effect)
    details.update(
        kind=spec.kind,
        canary_value=c_value,
        stable_value=s_value,
        p_value=p_bad,
        alpha=alpha_one,
        canary_lower=lo,
        canary_upper=hi,
        allowed_effect=allowed,
        margin=ruled_out,
        direction=spec.direction,
        critical=spec.critical,
    )
    text = (
        f"canary {_fmt(c_value)} ({settings.confidence:.0%} interval {_fmt(lo)} to {_fmt(hi)}) vs stable "
        f"{_fmt(s_value)}"
    )
    worse = (
        (spec.direction == "increase" and effect > allowed)
        or (spec.direction == "decrease" and -effect > allowed)
        or (spec.direction == "either" and abs(effect) > allowed)
    )
    alpha = 2 * alpha_one if spec.direction == "either" else alpha_one  # the p-value is two-sided then
    details["alpha"] = alpha
    if p_bad < alpha and worse:
        kind = "high" if effect > 0 else "low"
        return MetricVerdict(
            spec.name,
            kind,
            False,
            f"{spec.name}: canary {kind.upper()}: {text} "
            f"(p={p_bad:.3g} < {alpha:.3g}, beyond the tolerance ±{_fmt(allowed)})",
            c_value,
            details,
        )
    high_ok = hi <= s_value + ruled_out
    low_ok = lo >= s_value - ruled_out
    shown = (
        (spec.direction == "increase" and high_ok)
        or (spec.direction == "decrease" and low_ok)
        or (spec.direction == "either" and high_ok and low_ok)
    )
    if shown:
        why = f"{spec.name}: {text}: a regression beyond ±{_fmt(ruled_out)} is ruled out"
        if p_bad < alpha:
            why += f" (a significant difference within the tolerance, p={p_bad:.3g})"
        return MetricVerdict(spec.name, "pass", True, why, c_value, details)
    return MetricVerdict(
        spec.name,
        "inconclusive",
        None,
        f"{spec.name}: {text}: no significant regression (p={p_bad:.3g}), but the bound is more than "
        f"{_fmt(ruled_out)} from stable: not enough requests yet",
        c_value,
        details,
    )


def compare_judge(
    observations: Sequence[Observation], settings: CompareSettings = CompareSettings()
) -> JudgeVerdict | None:
    """Canary vs stable on the same window; None when no metric takes part."""
    verdicts: list[MetricVerdict] = []
    warnings: list[str] = []
    critical_failed: list[str] = []
    for obs in observations:
        spec = obs.metric
        if not spec.compare or spec.scope != "track":
            continue
        verdict = _missing(obs, ("canary", "stable"), settings.no_data, values=spec.kind != "series")
        if verdict is None and spec.kind == "series":
            c = [x for x in obs.canary_points if math.isfinite(x)]
            s = [x for x in obs.stable_points if math.isfinite(x)]
            if not c or not s:
                sides = [side for side, pts in (("canary", c), ("stable", s)) if not pts]
                why = "; ".join(f"{side}: {obs.missing.get(side, 'no points')}" for side in sides)
                verdict = _no_data(spec, settings.no_data, f"{spec.name}: {why}")
            else:
                verdict = classify(spec, c, s, settings)
                if min(len(c), len(s)) < settings.min_points and verdict.classification != "inconclusive":
                    warnings.append(
                        f"{spec.name}: {len(c)} canary / {len(s)} stable points, fewer than "
                        f"{settings.min_points} per side: the test has little power"
                    )
        elif verdict is None:
            verdict = classify_counted(obs, settings)
        if verdict.passed is False and spec.critical:
            critical_failed.append(spec.name)
        verdicts.append(verdict)
    if not verdicts:
        return None
    judged = [v for v in verdicts if v.passed is not None]
    score = 100.0 * sum(1 for v in judged if v.passed) / len(judged) if judged else None
    return _settle(
        "compare",
        verdicts,
        settings.final,
        score,
        settings.pass_score,
        settings.marginal_score,
        warnings,
        critical_failed,
    )
