"""Request-level evidence for canary analysis: counts and histograms over a window, and the tests on them.

Series of rates or quantiles sampled every second over a sliding window are strongly autocorrelated: sixty points
a second apart over a 30 s window hold about two windows' worth of information, so a rank test on them is far
more confident than the data allow. The judges therefore decide, where they can, on what the counters say
happened over the window -- each request is one observation:

- a **ratio** metric (an error rate) is ``events`` out of ``trials`` (``increase()`` of two counters):
  :func:`rate_bounds` (Clopper-Pearson) for absolute limits, :func:`compare_rates` (the exact conditional test
  of two Poisson rates: given all events, the canary's share is binomial) for canary against stable;
- a **quantile** metric (latency p95) is a histogram, the ``increase()`` of its ``_bucket`` counters:
  :func:`histogram_quantile` (as Prometheus interpolates), :func:`quantile_bounds` (order statistics: an exact
  binomial interval on the rank, read off the buckets), :func:`binned_mann_whitney` (the rank test on binned
  values, ties handled) for canary against stable;
- a **distribution** (prediction scores): :func:`ks_bounds`, the Kolmogorov-Smirnov distance between two
  histograms with a Dvoretzky-Kiefer-Wolfowitz interval.

Counts from ``increase()`` are extrapolated and need not be integers; the exact tests round them.
Every function is pure (numbers in, numbers out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """``events`` out of ``trials`` over the window (e.g. errors out of requests)."""

    events: float
    trials: float

    @property
    def value(self) -> float | None:
        return self.events / self.trials if self.trials > 0 else None

    def to_dict(self) -> dict[str, float]:
        return {"events": round(self.events, 3), "trials": round(self.trials, 3)}


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts at ascending upper bounds (Prometheus ``le``); the last bound is normally +Inf."""

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def from_buckets(cls, buckets: dict[float, float] | Sequence[tuple[float, float]]) -> Histogram:
        """From ``{le: cumulative count}``; counts are made non-decreasing (``increase()`` extrapolates each
        bucket on its own, so neighbours can cross by a fraction)."""
        items = sorted(buckets.items() if isinstance(buckets, dict) else buckets)
        bounds = tuple(float(b) for b, _ in items)
        cumulative = (
            tuple(float(x) for x in np.maximum.accumulate([max(0.0, float(c)) for _, c in items]))
            if items
            else ()
        )
        return cls(bounds, cumulative)

    @property
    def total(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    @property
    def counts(self) -> np.ndarray:
        """Per-bucket counts (not cumulative)."""
        return np.diff(np.asarray(self.cumulative, dtype=float), prepend=0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "le": [("+Inf" if math.isinf(b) else b) for b in self.bounds],
            "cumulative": [round(c, 3) for c in self.cumulative],
        }


# -- ratios ---------------------------------------------------------------------------------------------------
def rate_bounds(counts: Counts, confidence: float) -> tuple[float, float]:
    """One-sided Clopper-Pearson bounds at ``confidence`` each: (lower, upper) for events / trials."""
    from scipy.stats import beta

    n = max(0, round(counts.trials))
    k = min(n, max(0, round(counts.events)))
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1.0 - alpha, k + 1, n - k))
    return lower, upper


@dataclass(frozen=True)
class RateComparison:
    canary: float
    stable: float
    p_higher: float  # one-sided p-value for "the canary's rate is higher"
    p_lower: float

    @property
    def ratio(self) -> float:
        if self.stable > 0:
            return self.canary / self.stable
        return math.inf if self.canary > 0 else 1.0


def compare_rates(canary: Counts, stable: Counts) -> RateComparison:
    """Conditional test of two Poisson rates (binomial proportions with small rates alike): given the ``events``
    of both tracks together, the canary's share is Binomial(total, trials_c / (trials_c + trials_s)) when the
    rates are equal. The p-values are mid-p (the observed count weighs half): the exact test's p-values are
    conservative with few events (its real level is well below the nominal one), the mid-p test's level is
    close to nominal, which buys power where events are rare (a 1 % error rate)."""
    from scipy.stats import binom

    nc, ns = max(0.0, canary.trials), max(0.0, stable.trials)
    xc, xs = round(max(0.0, canary.events)), round(max(0.0, stable.events))
    rc = canary.events / nc if nc else 0.0
    rs = stable.events / ns if ns else 0.0
    total = xc + xs
    if total == 0 or nc == 0 or ns == 0:
        return RateComparison(rc, rs, 1.0, 1.0)
    share = nc / (nc + ns)
    half = 0.5 * float(binom.pmf(xc, total, share))
    p_higher = float(binom.sf(xc, total, share)) + half  # P(X > xc) + P(X = xc) / 2
    p_lower = float(binom.cdf(xc - 1, total, share)) + half  # P(X < xc) + P(X = xc) / 2
    return RateComparison(rc, rs, min(1.0, p_higher), min(1.0, p_lower))


# -- histograms -----------------------------------------------------------------------------------------------
def _finite_top(hist: Histogram) -> float:
    finite = [b for b in hist.bounds if math.isfinite(b)]
    return finite[-1] if finite else math.nan


def _value_at_rank(hist: Histogram, rank: float) -> float:
    """The value at a (1-based, possibly fractional) rank, interpolating linearly inside a bucket as Prometheus's
    histogram_quantile does (the first bucket's lower edge is 0 when its bound is positive); a rank in the +Inf
    bucket returns +Inf."""
    cumulative = hist.cumulative
    if not cumulative or hist.total <= 0:
        return math.nan
    rank = min(max(rank, 0.0), hist.total)
    i = min(int(np.searchsorted(cumulative, rank, side="left")), len(cumulative) - 1)
    upper = hist.bounds[i]
    if math.isinf(upper):
        return math.inf
    lower = hist.bounds[i - 1] if i > 0 else (0.0 if upper > 0 else upper)
    below = cumulative[i - 1] if i > 0 else 0.0
    inside = cumulative[i] - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside


def histogram_quantile(q: float, hist: Histogram) -> float | None:
    """Prometheus's ``histogram_quantile``; None for an empty histogram. A quantile in the +Inf bucket is the
    largest finite bound (as Prometheus reports it)."""
    if hist.total <= 0:
        return None
    value = _value_at_rank(hist, q * hist.total)
    return _finite_top(hist) if math.isinf(value) else value


def quantile_bounds(q: float, hist: Histogram, confidence: float) -> tuple[float, float]:
    """One-sided bounds at ``confidence`` each for the q-quantile, from order statistics: the number of requests
    at or below the true quantile is Binomial(n, q), so the k-th smallest request is an upper bound when
    P(Binomial(n, q) < k) >= confidence, and a lower bound when P(Binomial(n, q) >= k) >= confidence. The order
    statistics are read off the buckets by linear interpolation. Too few requests give (0, +Inf)."""
    from scipy.stats import binom

    n = math.floor(hist.total + 1e-9)
    if n <= 0:
        return 0.0, math.inf
    alpha = 1.0 - confidence
    scale = hist.total / n
    k_upper = int(binom.ppf(confidence, n, q)) + 1  # smallest k with P(Binomial <= k - 1) >= confidence
    upper = math.inf if k_upper > n else _value_at_rank(hist, k_upper * scale)
    j = int(binom.ppf(alpha, n, q))  # smallest j with cdf(j) >= alpha
    j_max = j if binom.cdf(j, n, q) <= alpha else j - 1  # largest j with cdf(j) <= alpha
    if j_max < 0:
        lower = 0.0
    else:
        lower = _value_at_rank(hist, (j_max + 1) * scale)  # P(Binomial >= j_max + 1) >= confidence
        if math.isinf(lower):
            lower = _finite_top(hist)
    return lower, upper


@dataclass(frozen=True)
class RankTest:
    z: float
    p_higher: float  # one-sided p-value for "canary values tend to be larger"
    p_lower: float
    auc: float  # P(canary > stable) + P(tie) / 2: 0.5 means no shift


def binned_mann_whitney(canary: Histogram, stable: Histogram) -> RankTest:
    """Mann-Whitney U on binned values (the requests in one bucket tie), normal approximation with the tie
    correction and a continuity correction. Both histograms must share the bounds."""
    from scipy.stats import norm

    if canary.bounds != stable.bounds:
        raise ValueError("histograms with different buckets")
    c, s = canary.counts, stable.counts
    n1, n2 = float(c.sum()), float(s.sum())
    if n1 <= 0 or n2 <= 0:
        return RankTest(0.0, 1.0, 1.0, 0.5)
    below = np.concatenate([[0.0], np.cumsum(s)[:-1]])
    u = float(np.sum(c * (below + 0.5 * s)))
    n = n1 + n2
    ties = c + s
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    mean = n1 * n2 / 2.0
    if var <= 0:
        return RankTest(0.0, 1.0, 1.0, u / (n1 * n2))
    sd = math.sqrt(var)
    return RankTest(
        (u - mean) / sd,
        float(norm.sf((u - mean - 0.5) / sd)),
        float(norm.cdf((u - mean + 0.5) / sd)),
        u / (n1 * n2),
    )


@dataclass(frozen=True)
class KsBounds:
    distance: float
    lower: float
    upper: float


def ks_bounds(canary: Histogram, stable: Histogram, confidence: float) -> KsBounds:
    """Largest gap between the two histograms' CDFs at the bucket bounds, with an interval: each empirical CDF is
    within ``sqrt(ln(2 / a) / (2 n))`` of its true CDF everywhere with probability 1 - a (Dvoretzky-Kiefer-Wolfowitz
    with Massart's constant), so the true distance is within the sum of both margins (a = (1 - confidence) / 2
    each)."""
    if canary.bounds != stable.bounds:
        raise ValueError("histograms with different buckets")
    n1, n2 = canary.total, stable.total
    if n1 <= 0 or n2 <= 0:
        return KsBounds(math.nan, 0.0, 1.0)
    d = float(np.max(np.abs(np.asarray(canary.cumulative) / n1 - np.asarray(stable.cumulative) / n2)))
    a = (1.0 - confidence) / 2.0
    eps = math.sqrt(math.log(2.0 / a) / (2.0 * n1)) + math.sqrt(math.log(2.0 / a) / (2.0 * n2))
    return KsBounds(d, max(0.0, d - eps), min(1.0, d + eps))
