"""Anytime-valid confidence sequences for counts: bounds that hold at every look at once, however often one looks.

Why: a canary analysed every 10-30 s with a fixed-horizon test has a fresh chance of a false alarm at every look,
so its false-rollback rate grows with the number of looks. A mixture likelihood ratio is a nonnegative martingale
under the parameter it tests (a test martingale, starting at 1), and Ville's inequality bounds the chance that it
*ever* reaches 1/alpha by alpha. The set of parameter values whose mixture ratio has stayed below 1/alpha is then a
confidence sequence: it covers the truth at every look simultaneously with probability 1 - alpha (Lindon, Sanden
and Shirikian, KDD 2022; Lindon and Malek, NeurIPS 2022). Two such sequences:

- :func:`rate_bounds`: one Bernoulli rate (events of trials, e.g. the canary's own error rate), with a Beta(a, b)
  mixture: the mixture ratio has the closed form B(a + x, b + n - x) / B(a, b) / (p^x (1 - p)^(n - x));
- :func:`ratio_bounds`: the rate ratio theta = lambda_canary / lambda_stable of two Poisson processes (errors per
  request on each track). Given the events of both tracks in one stretch of time, the canary's share is
  Binomial(events, p) with p = rho theta / (rho theta + 1 - rho), rho the canary's share of the requests in that
  stretch, so the nuisance (the stable rate, traffic that changes over time) drops out. Each increment between two
  looks has its own rho (the canary's weight changes between steps); the likelihood is the product over the
  increments and the mixture is over log theta ~ Normal(0, scale^2), integrated numerically (no conjugate form
  once rho varies). Bernoulli counts (each request fails or not) make the conditional count hypergeometric,
  less spread than the binomial, so the sequence stays valid (conservative).

Counts are rounded (Prometheus' increase() extrapolates). numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import betaln, expit, logsumexp

_EDGE = 40.0  # |log theta| beyond which a bound is reported as 0 or +Inf


def _count(x: float) -> float:
    return float(max(0, round(x)))


# -- one rate -----------------------------------------------------------------------------------------------------
def rate_log_e(events: float, trials: float, p0: float, a: float = 1.0, b: float = 1.0) -> float:
    """log of the Beta(a, b)-mixture likelihood ratio of ``events`` of ``trials`` against the rate ``p0``."""
    n = _count(trials)
    x = min(_count(events), n)
    null = (x * math.log(p0) if x else 0.0) + ((n - x) * math.log1p(-p0) if n - x else 0.0)
    return float(betaln(a + x, b + n - x) - betaln(a, b)) - null


def rate_bounds(
    events: float, trials: float, alpha: float, a: float = 1.0, b: float = 1.0
) -> tuple[float, float]:
    """(lower, upper) of the 1 - alpha confidence sequence for the rate: every p0 whose mixture ratio is below
    1 / alpha. The log ratio is convex in p0 with its minimum at x / n, so each bound is one root."""
    n = _count(trials)
    x = min(_count(events), n)
    if n == 0:
        return 0.0, 1.0
    level = math.log(1.0 / alpha)
    centre = min(max(x / n, 1e-300), 1.0 - 1e-16)

    def excess(p0: float) -> float:
        return rate_log_e(x, n, p0, a, b) - level

    eps = 1e-15
    lower = 0.0 if x == 0 or excess(eps) < 0 else brentq(excess, eps, centre, xtol=1e-14)
    upper = 1.0 if x == n or excess(1 - eps) < 0 else brentq(excess, centre, 1 - eps, xtol=1e-14)
    return float(lower), float(upper)


# -- the ratio of two rates ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Increment:
    """What both tracks counted between two looks."""

    canary_events: float
    stable_events: float
    canary_trials: float
    stable_trials: float


@dataclass(frozen=True)
class RatioBounds:
    """The rate ratio's confidence sequence at one look: ``lower`` and ``upper`` (0 and +Inf when the data cannot
    bound it), the maximum-likelihood ``estimate`` and the log mixture marginal (the evidence's scale)."""

    lower: float
    upper: float
    estimate: float
    log_marginal: float


def _arrays(increments: Sequence[Increment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(canary events, stable events, logit rho) of the increments that can say anything about the ratio."""
    rows = [
        (_count(i.canary_events), _count(i.stable_events), math.log(i.canary_trials / i.stable_trials))
        for i in increments
        if i.canary_trials > 0
        and i.stable_trials > 0
        and _count(i.canary_events) + _count(i.stable_events) > 0
    ]
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    xc, xs, logit = (np.asarray(col, dtype=float) for col in zip(*rows))
    return xc, xs, logit


def ratio_log_likelihood(
    phi: np.ndarray, xc: np.ndarray, xs: np.ndarray, logit_rho: np.ndarray
) -> np.ndarray:
    """Conditional binomial log likelihood at log ratios ``phi`` (binomial coefficients dropped: they cancel in
    every ratio): the canary's share of the events is expit(phi + logit rho) in each increment."""
    z = np.asarray(phi, dtype=float)[..., None] + logit_rho
    return np.sum(-xc * np.logaddexp(0.0, -z) - xs * np.logaddexp(0.0, z), axis=-1)


def ratio_log_marginal(xc: np.ndarray, xs: np.ndarray, logit_rho: np.ndarray, scale: float) -> float:
    """log of the integral of the likelihood over log theta ~ Normal(0, scale^2), by the trapezoid rule on a wide
    grid plus, when the likelihood is sharper than the grid, a fine one around its peak."""
    grid = np.linspace(-_EDGE / 2, _EDGE / 2, 4001)
    if xc.size:
        peak = _peak(xc, xs, logit_rho)
        if math.isfinite(peak):
            p = expit(peak + logit_rho)
            sd = 1.0 / math.sqrt(max(float(np.sum((xc + xs) * p * (1 - p))), 1e-12))
            grid = np.union1d(grid, np.linspace(peak - 12 * sd, peak + 12 * sd, 1201))
    log_f = (
        ratio_log_likelihood(grid, xc, xs, logit_rho)
        - 0.5 * (grid / scale) ** 2
        - math.log(scale * math.sqrt(2 * math.pi))
    )
    widths = np.diff(grid)
    pairs = np.logaddexp(log_f[:-1], log_f[1:]) - math.log(2.0)
    return float(logsumexp(pairs, b=widths))


def _peak(xc: np.ndarray, xs: np.ndarray, logit_rho: np.ndarray) -> float:
    """The maximum-likelihood log ratio (+-Inf when one track has all the events)."""
    if float(xs.sum()) == 0:
        return math.inf
    if float(xc.sum()) == 0:
        return -math.inf
    result = minimize_scalar(
        lambda phi: -float(ratio_log_likelihood(np.asarray(phi), xc, xs, logit_rho)),
        bounds=(-_EDGE, _EDGE),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(result.x)


def ratio_bounds(increments: Sequence[Increment], alpha: float, scale: float = 1.0) -> RatioBounds:
    """The 1 - alpha confidence sequence for the canary / stable rate ratio after the given increments: every
    theta0 whose mixture ratio (marginal / likelihood at theta0) is below 1 / alpha. The log likelihood is concave
    in log theta, so the set is an interval and each end is one root."""
    xc, xs, logit = _arrays(increments)
    log_m = ratio_log_marginal(xc, xs, logit, scale)
    floor = log_m + math.log(alpha)  # log likelihood a ratio must keep to stay in the sequence

    def inside(phi: float) -> float:
        return float(ratio_log_likelihood(np.asarray(phi), xc, xs, logit)) - floor

    peak = _peak(xc, xs, logit) if xc.size else 0.0
    centre = min(max(peak, -_EDGE), _EDGE)
    lower = 0.0 if inside(-_EDGE) > 0 else math.exp(brentq(inside, -_EDGE, centre, xtol=1e-10))
    upper = math.inf if inside(_EDGE) > 0 else math.exp(brentq(inside, centre, _EDGE, xtol=1e-10))
    estimate = math.exp(peak) if math.isfinite(peak) else (math.inf if peak > 0 else 0.0)
    return RatioBounds(lower, upper, estimate if xc.size else math.nan, log_m)
