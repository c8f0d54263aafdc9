"""Intervals with a stated coverage where the percentile bootstrap is known to miss it.

Simulation with known truths (bench/calibration.py) showed three places where resampling gives wrong
verdicts, and each has an exact or near-exact answer that needs no resampling at all:

- quantiles (latency p99): a resampled p99 can never exceed the sample maximum, so its upper bound is too
  low; the order-statistic interval is distribution-free and exact, and says when n is too small for a bound;
- disparities (max - min of group rates): the maximum of noisy rates is biased upward, so an interval
  around it misses 0 for equal groups; simultaneous intervals for the pairwise differences of the group rates
  (one critical value for the largest studentized gap) bound the disparity with the stated coverage;
- non-inferiority: whether a check *can* pass an equally good model at this n is a power question, answered
  from the standard error of the paired difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from gates.stats.studentized import delong_levels

POWER_TARGET = 0.8  # a check that passes an equal model less often than this is said to be underpowered
SIMULATIONS = 20_000  # normal draws behind a simultaneous critical value (fixed seed: same data, same value)
# The normal quantile and cdf from the standard library, not scipy: importing scipy (0.5-2.7 s on a busy
# machine) cost more than the metrics gate's own work at 1e6 rows. Both agree with scipy.special's ndtri and
# ndtr to 1e-15 and 2e-13 relative (the cdf through erfc, so a small tail probability keeps its digits).
_NORMAL = NormalDist()


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def z_two_sided(confidence: float) -> float:
    """The normal quantile of a two-sided interval at this confidence (1.96 at 95%)."""
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


# ----------------------------------------------------------------------------------------- non-inferiority
@dataclass(frozen=True)
class Power:
    """What a non-inferiority check can tell at this n: the chance that a model exactly as good as the
    baseline passes, and the smallest margin it would pass with POWER_TARGET chance."""

    standard_error: float
    equal_model_passes: float
    minimum_detectable_difference: float


def noninferiority_power(standard_error: float, margin: float, confidence: float, decide_on: str) -> Power:
    """Power of the check 'difference >= -margin' for a candidate whose true difference is 0.

    With the bound deciding, an equal model passes when d - z*se >= -margin, i.e. with chance
    Phi(margin/se - z); with the point deciding, when d >= -margin: Phi(margin/se). The minimum detectable
    difference is the margin at which that chance reaches POWER_TARGET.
    """
    z = z_two_sided(confidence) if decide_on == "bound" else 0.0
    target = float(_NORMAL.inv_cdf(POWER_TARGET))
    if standard_error <= 0:  # the difference never moves (identical predictions): an equal model passes
        return Power(0.0, 1.0, 0.0)
    return Power(
        standard_error=float(standard_error),
        equal_model_passes=float(normal_cdf(margin / standard_error - z)),
        minimum_detectable_difference=float((z + target) * standard_error),
    )


# ---------------------------------------------------------------------------------------------- quantiles
def quantile_ranks(n: int, q: float, confidence: float) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the order statistics that bound the q-quantile with `confidence`, two-sided.

    P(x_(l) <= xi_q <= x_(u)) >= confidence for any continuous distribution (B ~ Binomial(n, q) counts the
    samples below xi_q): l is the largest rank with P(B < l) <= alpha/2, u the smallest with
    P(B >= u) <= alpha/2. None where no order statistic is far enough out (n too small for that side).
    """
    alpha = (1 - confidence) / 2
    if n <= 0:
        return None, None
    # P(B <= l - 1) <= alpha: l - 1 <= ppf-ish; search with the cdf directly (exact, n is at most millions).
    from scipy import stats  # only quantile checks need it; importing it costs more than the metrics gate

    ks = np.arange(n + 1)
    cdf = stats.binom.cdf(ks, n, q)
    lower_ok = np.flatnonzero(cdf <= alpha)  # P(B <= k) <= alpha  ->  l = k + 1
    low = int(lower_ok[-1]) + 1 if lower_ok.size else None
    upper_ok = np.flatnonzero(1 - cdf <= alpha)  # P(B >= k + 1) <= alpha  ->  u = k + 1
    high = int(upper_ok[0]) + 1 if upper_ok.size and upper_ok[0] + 1 <= n else None
    return low, high


def quantile_interval(values: np.ndarray, q: float, confidence: float) -> tuple[float, float]:
    """Order-statistic interval for the q-quantile; -inf / +inf on a side the sample cannot bound."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    low, high = quantile_ranks(ordered.size, q, confidence)
    return (
        float(ordered[low - 1]) if low is not None else -math.inf,
        float(ordered[high - 1]) if high is not None else math.inf,
    )


def quantile_min_samples(q: float, confidence: float) -> int:
    """Fewest samples for which the two-sided interval of the q-quantile has a finite upper bound:
    1 - q^n >= 1 - alpha/2 (368 for p99 at 95%: its upper end is a 97.5% one-sided bound)."""
    alpha = (1 - confidence) / 2
    return math.ceil(math.log(alpha) / math.log(q))


# ---------------------------------------------------------------------------------------------- disparity
@dataclass(frozen=True)
class RateFamily:
    """Per group counts of one rate (numerator successes out of denominator trials), one array per
    component of a rule (equalized odds has two: TPR and FPR), plus the overall counts of each."""

    successes: list[np.ndarray]
    trials: list[np.ndarray]
    overall_successes: list[float]
    overall_trials: list[float]


def _adjusted(successes: np.ndarray, trials: np.ndarray, on_log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rates with their standard errors, Agresti-Caffo style: one success and one failure added per group,
    so a rate of 0 or 1 still has spread; on the log scale by the delta method."""
    n = np.asarray(trials, float) + 2
    rate = (np.asarray(successes, float) + 1) / n
    if on_log:
        return np.log(rate), np.sqrt((1 - rate) / (n * rate))
    return rate, np.sqrt(rate * (1 - rate) / n)


def max_gap_critical_value(sigmas: list[np.ndarray], confidence: float, seed: int = 0) -> float:
    """The `confidence` quantile of max over pairs (i, j) within a component of |Z_i s_i - Z_j s_j| /
    sqrt(s_i^2 + s_j^2), Z independent standard normals: one critical value for all pairwise intervals at
    once (Tukey's idea with unequal variances), by a fixed-seed simulation."""
    rng = np.random.default_rng(seed)
    pairs = [np.triu_indices(s.size, 1) for s in sigmas]
    if sum(p[0].size for p in pairs) == 0:
        return z_two_sided(confidence)
    chunk = max(1, 4_000_000 // max(1, sum(p[0].size for p in pairs)))
    maxima = []
    done = 0
    while done < SIMULATIONS:
        b = min(chunk, SIMULATIONS - done)
        worst = np.zeros(b)
        for s, (i, j) in zip(sigmas, pairs):
            if i.size == 0:
                continue
            draw = rng.standard_normal((b, s.size)) * s
            gaps = np.abs(draw[:, i] - draw[:, j]) / np.sqrt(s[i] ** 2 + s[j] ** 2)
            np.maximum(worst, gaps.max(axis=1), out=worst)
        maxima.append(worst)
        done += b
    return float(np.quantile(np.concatenate(maxima), confidence))


def _folded_abs_bounds(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of |x| when x lies in [low, high]."""
    upper = np.maximum(np.abs(low), np.abs(high))
    lower = np.where((low <= 0) & (high >= 0), 0.0, np.minimum(np.abs(low), np.abs(high)))
    return lower, upper


def disparity_interval(
    family: RateFamily, disparity: str, relative_to: str, confidence: float
) -> tuple[float, float, str]:
    """An interval for a rule's disparity that holds with at least `confidence` (method in words).

    Between groups, a difference (the largest gap between two groups) is bounded by simultaneous intervals
    for every pairwise difference: when all of them hold, the largest true gap lies between the largest
    lower and the largest upper end, so with equal rates the interval reaches 0 exactly as often as stated.
    A ratio (min / max) is the same on the log scale. Comparisons with the overall rate use Sidak-adjusted Wilson intervals for every rate (the
    overall one included), a conservative box from which the bounds follow.
    """
    if relative_to == "between_groups":
        on_log = disparity == "ratio"  # min / max = exp(-largest gap of log rates)
        adjusted = [_adjusted(k, n, on_log) for k, n in zip(family.successes, family.trials)]
        c = max_gap_critical_value([s for _, s in adjusted], confidence)
        lows, highs = [], []
        for rate, sigma in adjusted:
            i, j = np.triu_indices(rate.size, 1)
            gap = rate[i] - rate[j]
            half = c * np.sqrt(sigma[i] ** 2 + sigma[j] ** 2)
            lower, upper = _folded_abs_bounds(gap - half, gap + half)
            lows.append(lower.max() if lower.size else 0.0)
            highs.append(upper.max() if upper.size else 0.0)
        scale = "log rates" if on_log else "rates"
        method = f"simultaneous pairwise intervals of {scale} (Agresti-Caffo, max-gap critical value {c:.3g})"
        if on_log:  # the worst component is the smallest ratio
            return float(math.exp(-max(highs))), float(math.exp(-max(lows))), method
        return float(max(lows)), float(min(1.0, max(highs))), method
    count = sum(k.size + 1 for k in family.successes)
    level = confidence ** (1 / count)  # Sidak: all `count` intervals hold together with `confidence`
    parts = []
    for k, n, ko, no in zip(family.successes, family.trials, family.overall_successes, family.overall_trials):
        low, high = wilson(k, n, level)
        o_low, o_high = wilson(np.array([ko]), np.array([no]), level)
        parts.append(_box_bounds(low, high, float(o_low[0]), float(o_high[0]), disparity))
    if disparity == "difference":
        lo, hi = max(p[0] for p in parts), max(p[1] for p in parts)
    else:
        lo, hi = min(p[0] for p in parts), min(p[1] for p in parts)
    return float(lo), float(hi), f"Sidak-adjusted Wilson intervals for {count} rates"


def _box_bounds(
    low: np.ndarray, high: np.ndarray, o_low: float, o_high: float, disparity: str
) -> tuple[float, float]:
    """Bounds of one component's disparity to the overall rate when every rate lies in its interval."""
    if disparity == "difference":
        lower, upper = _folded_abs_bounds(low - o_high, high - o_low)
        return float(lower.max()), float(upper.max())
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(o_high > 0, low / o_high, 0.0)
        b = np.where(o_low > 0, high / o_low, np.inf)
    fa = np.minimum(a, np.where(a > 0, 1 / np.where(a > 0, a, 1), 0.0))
    fb = np.minimum(b, np.where(np.isfinite(b) & (b > 0), 1 / np.where(b > 0, b, 1), 0.0))
    lowest = np.minimum(fa, fb)
    highest = np.where((a <= 1) & (b >= 1), 1.0, np.maximum(fa, fb))
    return float(lowest.min()), float(highest.min())


def wilson(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval per element (the rate's interval that keeps its coverage near 0 and 1)."""
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    z = z_two_sided(confidence)
    p = np.where(n > 0, k / np.maximum(n, 1), 0.5)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At no successes (all successes) the bound is 0 (1) exactly; the formula reaches it only up to rounding.
    low = np.where((k == 0) & (n > 0), 0.0, np.clip(centre - half, 0, 1))
    return low, np.where((k == n) & (n > 0), 1.0, np.clip(centre + half, 0, 1))


# ---------------------------------------------------------------------------------------------------- AUC
def delong(score: np.ndarray, positive: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """ROC AUC and its DeLong variance from weighted cells (score, label, count), in O(K log K)
    (gates.stats.studentized.delong_levels on the distinct scores)."""
    levels, inverse = np.unique(np.asarray(score, dtype=np.float64), return_inverse=True)
    weights = np.asarray(counts, dtype=np.float64)
    is_pos = np.asarray(positive, dtype=bool)
    pos = np.bincount(inverse, weights=weights * is_pos, minlength=levels.size)
    neg = np.bincount(inverse, weights=weights * ~is_pos, minlength=levels.size)
    auc, variance = delong_levels(pos[None, :], neg[None, :])
    return float(auc[0]), float(variance[0])


def auc_interval(auc: float, variance: float, confidence: float) -> tuple[float, float]:
    """DeLong interval on the logit scale (stays inside (0, 1) and covers better near 1 than auc +- z se)."""
    if not (0 < auc < 1) or not math.isfinite(variance):
        return float("nan"), float("nan")
    z = z_two_sided(confidence)
    centre = math.log(auc / (1 - auc))
    half = z * math.sqrt(variance) / (auc * (1 - auc))
    return 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))
