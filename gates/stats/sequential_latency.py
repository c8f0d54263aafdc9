"""Anytime-valid tests on latency histograms (Prometheus ``_bucket`` counters): a comparison of the canary's
bucket shares with the stable ones', and bounds on one track's quantile. Both hold at every look at once.

Why not the share of requests above one bucket bound (a rate ratio): it uses the few requests past that bound
(about 5-10 %) and ignores how the other 90 % moved, so a canary whose every request is 30 % slower goes unseen
at low traffic, where a rank test on all the requests sees it.

- :func:`shift_log_e`, the comparison. Under no change (a request's latency does not depend on its track), the
  canary's requests of one increment (what both tracks counted between two looks) are a random subset of the
  pooled requests, of the canary's size, whatever the traffic share. Score each bucket by its pooled mid-rank
  (centred, in (-1/2, 1/2)); the canary's score sum S is then a sum drawn without replacement, and by Hoeffding
  (1963, theorem 4) E exp(beta S) <= M(beta)^n, M the pooled mean of exp(beta score), n the canary's requests.
  So exp(beta S) / M(beta)^n is an e-value for each increment (valid conditionally on the pooled buckets, which
  fix the scores), their product over the increments is a test supermartingale, and so is its average over a
  mixture of beta > 0 (a slower canary has higher ranks). Ville: it reaches 1 / alpha with probability at most
  alpha, however often one looks. This is the exponential tilt of the multinomial bucket shares towards slower
  buckets (a Wilcoxon-type score), conditioned on each increment's pooled histogram as Lindon and Malek
  (NeurIPS 2022) condition on totals, so the unknown latency distribution and the traffic share drop out.
- :func:`quantile_bounds`, one track's q-quantile Q. The count of requests at or below Q is Binomial(n, q) at
  every look, so a confidence sequence for that one count (Beta(1, 1) mixture, as for a rate) bounds it for all
  looks at once, without a union over the buckets (Howard and Ramdas, "Sequential estimation of quantiles",
  2022): a bucket bound whose cumulative count is above the count's upper end is at or above Q, one whose count
  is below the lower end is below Q. The bounds are bucket bounds.

numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.special import betaln, logsumexp


def mid_rank_scores(pooled: np.ndarray) -> np.ndarray:
    """Each bucket's mid-rank in the pooled counts, centred: (requests below + half its own) / all - 1/2."""
    total = float(pooled.sum())
    if total <= 0:
        return np.zeros_like(pooled, dtype=float)
    below = np.cumsum(pooled) - pooled
    centred: np.ndarray = (below + pooled / 2.0) / total - 0.5
    return centred


def shift_log_e(
    canary: np.ndarray, stable: np.ndarray, centre: float, scale: float, side: str = "slower"
) -> float:
    """log of the mixture e-value that the canary's latencies are shifted (``side`` slower: towards higher
    buckets; faster: lower) against no change. ``canary`` and ``stable`` are per-bucket counts (not cumulative),
    one row per increment. The mixture over the tilt beta is Normal(``centre``, ``scale``^2) on beta > 0 (its
    weight below 0 dropped); beta near 12 (P(canary slower) - 1/2) grows fastest (a 30 % slower lognormal
    latency with sd 0.5 of the log: about 1.7)."""
    c = np.rint(np.clip(np.asarray(canary, dtype=float), 0, None))
    s = np.clip(np.asarray(stable, dtype=float), 0, None)  # may be a moved (fractional) histogram
    if c.ndim == 1:
        c, s = c[None, :], s[None, :]
    pooled = c + s
    scores = np.array([mid_rank_scores(row) for row in np.cumsum(pooled, axis=0)])  # through each increment
    if side == "faster":
        scores = -scores
    keep = (c.sum(axis=1) > 0) & (s.sum(axis=1) > 0)
    if not keep.any():
        return -math.inf if centre - 9 * scale > 0 else math.log(0.5)
    c, pooled, scores = c[keep], pooled[keep], scores[keep]
    sums = np.sum(c * scores, axis=1)  # (K,)
    sizes = c.sum(axis=1)
    shares = pooled / pooled.sum(axis=1, keepdims=True)  # (K, J)
    beta = np.linspace(max(0.0, centre - 9 * scale), centre + 9 * scale, 301)
    beta = beta[beta > 0]
    # log M_k(beta) = log sum_j share_kj exp(beta z_kj)
    log_m = logsumexp(beta[:, None, None] * scores[None], axis=2, b=shares[None])  # (G, K)
    log_lr = (beta[:, None] * sums[None, :] - sizes[None, :] * log_m).sum(axis=1)
    log_prior = -0.5 * ((beta - centre) / scale) ** 2 - math.log(scale * math.sqrt(2 * math.pi))
    log_f = log_lr + log_prior
    pairs = np.logaddexp(log_f[:-1], log_f[1:]) - math.log(2.0)
    return float(logsumexp(pairs, b=np.diff(beta)))


def shifted_up(counts: np.ndarray, bounds: Sequence[float], factor: float, offset: float) -> np.ndarray:
    """Per-bucket counts (last axis) moved to where ``latency x factor + offset`` lands, each bucket's requests
    spread evenly over their bucket as Prometheus' histogram_quantile assumes (the first bucket from 0, the
    +Inf bucket staying put). Comparing the canary with the moved stable histogram tests "slower than stable by
    more than the tolerance". Even spreading is exact for a flat density within a bucket and errs towards the
    slow side where the density falls (the tail, where a p95 lives), so the test stays at or under its alpha
    there (checked by simulation). factor 1 and offset 0 change nothing."""
    edges = np.asarray(bounds, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if factor == 1.0 and offset == 0.0:
        return counts
    finite = edges[np.isfinite(edges)]
    lows = np.concatenate([[0.0], edges[:-1]])
    out = np.zeros_like(counts)
    out[..., -1] += counts[..., -1] if not np.isfinite(edges[-1]) else 0.0
    for j in range(len(edges) if np.isfinite(edges[-1]) else len(edges) - 1):
        lo, hi = lows[j] * factor + offset, edges[j] * factor + offset
        cut = np.clip(np.concatenate([[0.0], finite, [np.inf]]), lo, hi)  # the moved bucket over the buckets
        shares = np.diff(cut) / (hi - lo)  # len(finite) + 1: the finite buckets, then beyond the last bound
        out[..., : len(finite)] += counts[..., j : j + 1] * shares[: len(finite)]
        out[..., -1] += counts[..., j] * shares[-1]
    return out


def _count_range(n: float, q: float, alpha: float) -> tuple[float, float]:
    """The counts s of n a Binomial(n, q) count stays within at every look with probability 1 - alpha: those
    whose Beta(1, 1) mixture ratio against q is below 1 / alpha."""
    level = math.log(1.0 / alpha)

    def excess(x: float) -> float:
        return float(betaln(1 + x, 1 + n - x) - x * math.log(q) - (n - x) * math.log1p(-q)) - level

    centre = n * q
    low = 0.0 if excess(0.0) < 0 else brentq(excess, 0.0, centre, xtol=1e-9)
    high = n if excess(n) < 0 else brentq(excess, centre, n, xtol=1e-9)
    return low, high


def quantile_bounds(
    bounds: Sequence[float], cumulative: Sequence[float], q: float, alpha: float
) -> tuple[float, float]:
    """(lower, upper) anytime bounds on the q-quantile from cumulative bucket counts: the quantile is above
    ``lower`` and at or below ``upper`` at every look with probability 1 - alpha (0 and +Inf when the buckets
    cannot say)."""
    n = float(round(cumulative[-1])) if len(cumulative) else 0.0
    if n <= 0:
        return 0.0, math.inf
    low, high = _count_range(n, q, alpha)
    counts = [float(round(x)) for x in cumulative]
    upper = next((b for b, x in zip(bounds, counts) if x > high and math.isfinite(b)), math.inf)
    lower = max((b for b, x in zip(bounds, counts) if x < low and math.isfinite(b)), default=0.0)
    return float(lower), float(upper)
