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
from scipy.special import betaln, expit

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


def limit_log_e(events: float, trials: float, p0: float, side: str = "above") -> float:
    """log of an e-process against "the rate is at most ``p0``" (``side`` above) or "at least ``p0``"
    (below): the Beta(1, 1)-mixture ratio's infimum over the rates of that null, which is the ratio at ``p0``
    when the observed rate is beyond it and the ratio at the observed rate otherwise (the log ratio is convex in
    the tested rate with its minimum there). At every rate of the null it is at most that rate's test
    martingale, so Ville bounds it too, and an average of it with other tests' martingales stays valid. It
    reaches 1 / alpha exactly when the rate's confidence sequence (:func:`rate_bounds`) excludes ``p0``."""
    n = _count(trials)
    x = min(_count(events), n)
    if n == 0:
        return 0.0
    observed = x / n
    beyond = observed > p0 if side == "above" else observed < p0
    return rate_log_e(x, n, p0 if beyond else observed)


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
    """The rate ratio's one-sided anytime bounds at one look: ``lower`` (from the mixture looking for a
    regression) and ``upper`` (from the one looking for no change); 0 and +Inf when the data cannot bound it;
    ``estimate`` is the maximum-likelihood ratio (NaN before any event)."""

    lower: float
    upper: float
    estimate: float


@dataclass(frozen=True)
class Mixture:
    """A normal mixing distribution over log ratios, ``centre`` (a ratio) and ``scale`` (sd of the log),
    restricted to one side of the tested ratio. Centred on the ratio that matters (e.g. 2x for a rollback, 1x
    for a pass), it puts its weight where the evidence will be, which is where a mixture test gets its power:
    a wide mixture centred on 1 spends most of its weight on ratios nobody tests."""

    centre: float
    scale: float


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
    total: np.ndarray = np.sum(-xc * np.logaddexp(0.0, -z) - xs * np.logaddexp(0.0, z), axis=-1)
    return total


def _peak(xc: np.ndarray, xs: np.ndarray, logit_rho: np.ndarray) -> float:
    """The maximum-likelihood log ratio (+-Inf when one track has all the events, 0 with no events)."""
    if xc.size == 0:
        return 0.0
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


@dataclass(frozen=True)
class _Evidence:
    """The increments as arrays, with the likelihood's peak and curvature there (computed once per look)."""

    xc: np.ndarray
    xs: np.ndarray
    logit: np.ndarray
    peak: float
    sharpness: float

    @classmethod
    def of(cls, increments: Sequence[Increment]) -> _Evidence:
        xc, xs, logit = _arrays(increments)
        peak = _peak(xc, xs, logit)
        sharpness = 0.0
        if xc.size and math.isfinite(peak):
            p = expit(peak + logit)
            sharpness = float(np.sum((xc + xs) * p * (1 - p)))
        return cls(xc, xs, logit, peak, sharpness)

    def log_e(self, phi0: float, mixture: Mixture, side: str) -> float:
        mu, s = math.log(mixture.centre), mixture.scale
        grid = np.linspace(mu - 9 * s, mu + 9 * s, 361)
        if math.isfinite(self.peak) and self.sharpness > 1.0 / s**2:  # the likelihood is sharper: refine
            sd = 1.0 / math.sqrt(self.sharpness)
            grid = np.union1d(grid, np.linspace(self.peak - 12 * sd, self.peak + 12 * sd, 241))
        grid = np.union1d(grid[grid > phi0] if side == "above" else grid[grid < phi0], [phi0])
        if grid.size < 2:
            return -math.inf
        log_f = (
            ratio_log_likelihood(grid, self.xc, self.xs, self.logit)
            - float(ratio_log_likelihood(np.asarray(phi0), self.xc, self.xs, self.logit))
            - 0.5 * ((grid - mu) / s) ** 2
            - math.log(s * math.sqrt(2 * math.pi))
        )
        return _log_trapezoid(log_f, grid)


def _log_trapezoid(log_f: np.ndarray, grid: np.ndarray) -> float:
    """log of the trapezoid rule's integral of exp(log_f) over ``grid`` (in logs: the values span hundreds of
    orders of magnitude)."""
    top = float(np.max(log_f))
    if not math.isfinite(top):
        return top
    f = np.exp(log_f - top)
    return top + math.log(float(np.sum((f[:-1] + f[1:]) * np.diff(grid))) / 2.0)


def ratio_log_e(
    increments: Sequence[Increment], theta0: float, mixture: Mixture, side: str = "above"
) -> float:
    """log of the one-sided mixture likelihood ratio against the rate ratio ``theta0``: the likelihood at each
    ratio on ``side`` of ``theta0`` (above: testing theta <= theta0; below: theta >= theta0), over the
    likelihood at ``theta0``, averaged over ``mixture`` (its weight on the other side is dropped, so the average
    is over at most a probability). Each ratio's likelihood ratio is a supermartingale under every ratio on the
    null's side (the binomial share is monotone in theta), so the average is one too (a test supermartingale):
    by Ville's inequality it ever reaches 1 / alpha with probability at most alpha, however often one looks."""
    return _Evidence.of(increments).log_e(math.log(theta0), mixture, side)


def ratio_bound(increments: Sequence[Increment], alpha: float, mixture: Mixture, side: str) -> float:
    """The one-sided 1 - alpha anytime bound on the rate ratio: with ``side`` "lower", the smallest ratio not
    rejected by the mixture looking above it (a regression is certain beyond ``1 + tolerance`` exactly when this
    bound is above it); with "upper", the largest ratio not rejected by the mixture looking below it. Below the
    likelihood's peak the test's log ratio falls as the tested ratio rises (and mirrored above it), so each
    bound is one root."""
    evidence = _Evidence.of(increments)
    peak = min(max(evidence.peak, -_EDGE), _EDGE)
    level = math.log(1.0 / alpha)
    looking = "above" if side == "lower" else "below"

    def excess(phi0: float) -> float:
        return evidence.log_e(phi0, mixture, looking) - level

    if side == "lower":
        return 0.0 if excess(-_EDGE) < 0 else math.exp(brentq(excess, -_EDGE, peak, xtol=1e-5))
    return math.inf if excess(_EDGE) < 0 else math.exp(brentq(excess, peak, _EDGE, xtol=1e-5))


def ratio_estimate(increments: Sequence[Increment]) -> float:
    """The maximum-likelihood rate ratio (NaN before any event)."""
    xc, xs, logit = _arrays(increments)
    return math.exp(_peak(xc, xs, logit)) if xc.size else math.nan
