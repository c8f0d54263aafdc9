"""The Kayenta-like compare judge: canary against stable over the same window, each metric classified Pass / High /
Low / NoData / Inconclusive and scored. Series metrics by a Mann-Whitney U test over points (Hodges-Lehmann or
mean-ratio effect), counted kinds (ratio / quantile) by a test on the requests with an effect-size gate.
See :mod:`gates.deploy.judges` for the decision rules the judges share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gates.deploy.evidence import (
    Counts,
    Histogram,
    binned_mann_whitney,
    compare_rates,
    histogram_quantile,
    quantile_bounds,
    rate_bounds,
)
from gates.deploy.queries import DEFAULT_TOLERANCE, MetricSpec
from gates.deploy.verdicts import (
    JudgeVerdict,
    MetricVerdict,
    Observation,
    fmt_value,
    missing_verdict,
    no_data_verdict,
    settle,
    two_sided,
)


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
        effect_text = f"mean ratio {fmt_value(mean_ratio)} (tolerance ±{tolerance:.0%})"
    else:
        allowed = max(tolerance * abs(stable_median), spec.min_effect)
        effect = hl
        effect_text = (
            f"Hodges-Lehmann shift {fmt_value(hl)} vs stable median {fmt_value(stable_median)} "
            f"(tolerance ±{fmt_value(allowed)})"
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
        f"canary {fmt_value(c_value)} ({settings.confidence:.0%} interval {fmt_value(lo)} to {fmt_value(hi)}) vs stable "
        f"{fmt_value(s_value)}"
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
            f"(p={p_bad:.3g} < {alpha:.3g}, beyond the tolerance ±{fmt_value(allowed)})",
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
        why = f"{spec.name}: {text}: a regression beyond ±{fmt_value(ruled_out)} is ruled out"
        if p_bad < alpha:
            why += f" (a significant difference within the tolerance, p={p_bad:.3g})"
        return MetricVerdict(spec.name, "pass", True, why, c_value, details)
    return MetricVerdict(
        spec.name,
        "inconclusive",
        None,
        f"{spec.name}: {text}: no significant regression (p={p_bad:.3g}), but the bound is more than "
        f"{fmt_value(ruled_out)} from stable: not enough requests yet",
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
        verdict = missing_verdict(obs, ("canary", "stable"), settings.no_data, values=spec.kind != "series")
        if verdict is None and spec.kind == "series":
            c = [x for x in obs.canary_points if math.isfinite(x)]
            s = [x for x in obs.stable_points if math.isfinite(x)]
            if not c or not s:
                sides = [side for side, pts in (("canary", c), ("stable", s)) if not pts]
                why = "; ".join(f"{side}: {obs.missing.get(side, 'no points')}" for side in sides)
                verdict = no_data_verdict(spec, settings.no_data, f"{spec.name}: {why}")
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
    return settle(
        "compare",
        verdicts,
        settings.final,
        score,
        settings.pass_score,
        settings.marginal_score,
        warnings,
        critical_failed,
    )
