"""gates.stats.sequential: the mixture ratios against direct numerical integration, and the confidence sequences'
guarantee (coverage at every look at once) and power by simulation with known truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from gates.stats.sequential import (
    Increment,
    Mixture,
    limit_log_e,
    rate_bounds,
    rate_log_e,
    ratio_bound,
    ratio_estimate,
    ratio_log_e,
    ratio_log_likelihood,
)


@pytest.mark.parametrize(
    ("x", "n", "p0", "a", "b"), [(3, 40, 0.02, 1, 1), (0, 500, 0.01, 1, 1), (7, 9, 0.5, 2, 3)]
)
def test_rate_mixture_matches_numerical_integration(x, n, p0, a, b):
    def integrand(p: float) -> float:
        return stats.binom.pmf(x, n, p) * stats.beta.pdf(p, a, b)

    direct, _ = integrate.quad(integrand, 0, 1, points=[x / n], epsabs=0, epsrel=1e-10, limit=200)
    expected = math.log(direct / stats.binom.pmf(x, n, p0))
    assert rate_log_e(x, n, p0, a, b) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("increments", "theta0", "side"),
    [
        ([Increment(20, 80, 1000, 9000), Increment(40, 60, 2500, 7500)], 1.0, "above"),
        ([Increment(0, 30, 3000, 3000)], 2.0, "below"),
        ([Increment(5000, 4900, 1e6, 1e6)], 1.0, "above"),  # a likelihood far sharper than the mixture
        ([Increment(5000, 4900, 1e6, 1e6)], 1.5, "below"),
    ],
)
def test_one_sided_mixture_matches_numerical_integration(increments, theta0, side):
    xc = np.array([i.canary_events for i in increments], dtype=float)
    xs = np.array([i.stable_events for i in increments], dtype=float)
    logit = np.log([i.canary_trials / i.stable_trials for i in increments])
    mixture = Mixture(2.0 if side == "above" else 1.0, 0.3)
    phi0 = math.log(theta0)
    at_null = float(ratio_log_likelihood(np.asarray(phi0), xc, xs, logit))
    peak = math.log(max(xc.sum(), 0.5) / max(xs.sum(), 0.5)) - float(np.mean(logit))
    offset = max(float(ratio_log_likelihood(np.asarray(peak), xc, xs, logit)), at_null)

    def integrand(phi: float) -> float:
        ll = float(ratio_log_likelihood(np.asarray(phi), xc, xs, logit)) - offset
        return math.exp(ll) * stats.norm.pdf(phi, math.log(mixture.centre), mixture.scale)

    lo, hi = (phi0, phi0 + 5) if side == "above" else (phi0 - 5, phi0)
    points = [p for p in (peak,) if lo < p < hi]
    direct, _ = integrate.quad(integrand, lo, hi, points=points or None, epsabs=0, epsrel=1e-10, limit=500)
    expected = math.log(direct) + offset - at_null
    assert ratio_log_e(increments, theta0, mixture, side) == pytest.approx(
        expected, abs=1e-3
    )  # 0.1 % of the e-value


def test_ratio_bounds_are_where_the_mixture_ratio_crosses_one_over_alpha():
    incs = [Increment(20, 80, 1000, 9000), Increment(40, 60, 2500, 7500)]
    rollback, keep = Mixture(2.0, 0.3), Mixture(1.0, 0.3)
    lower = ratio_bound(incs, 0.05, rollback, "lower")
    upper = ratio_bound(incs, 0.05, keep, "upper")
    assert ratio_log_e(incs, lower, rollback, "above") == pytest.approx(math.log(20), abs=1e-3)
    assert ratio_log_e(incs, upper, keep, "below") == pytest.approx(math.log(20), abs=1e-3)
    assert lower < ratio_estimate(incs) < upper


@pytest.mark.parametrize(("x", "n"), [(0, 300), (3, 300), (9, 300), (25, 1000), (40, 1000), (400, 400)])
def test_a_limit_is_crossed_exactly_when_the_rate_sequence_excludes_it(x, n):
    """limit_log_e is the infimum over the null's rates of the rate's mixture ratio, so it reaches 1 / alpha
    exactly when the confidence sequence lies beyond the limit; under the limit it is never above 1."""
    alpha, p0 = 0.01, 0.015
    lower, upper = rate_bounds(x, n, alpha)
    assert (limit_log_e(x, n, p0, "above") >= math.log(1 / alpha)) == (lower > p0)
    assert (limit_log_e(x, n, p0, "below") >= math.log(1 / alpha)) == (upper < p0)
    if x / n <= p0:
        assert limit_log_e(x, n, p0, "above") <= 0.0


def test_no_events_bound_nothing():
    assert rate_bounds(0, 0, 0.01) == (0.0, 1.0)
    incs = [Increment(0, 0, 100, 100)]
    assert ratio_bound(incs, 0.01, Mixture(2.0, 0.3), "lower") == 0.0
    assert ratio_bound(incs, 0.01, Mixture(1.0, 0.3), "upper") == math.inf
    assert math.isnan(ratio_estimate(incs))


def test_rate_sequence_covers_the_truth_at_every_look():
    """2000 Bernoulli streams of 2000 requests, a look after every 10: the truth leaves the sequence (its mixture
    ratio reaches 1 / alpha) in at most alpha of them; a fixed-horizon interval at every look misses far more."""
    from scipy.special import betaln

    rng = np.random.default_rng(0)
    alpha, p = 0.05, 0.02
    n = np.arange(10, 2001, 10, dtype=float)
    x = np.cumsum(rng.random((2000, 2000)) < p, axis=1)[:, 9::10].astype(float)
    log_e = betaln(1 + x, 1 + n - x) - x * math.log(p) - (n - x) * math.log1p(-p)
    assert np.all(np.isclose(log_e[0, :3], [rate_log_e(x[0, k], n[k], p) for k in range(3)]))
    missed = float(np.mean(np.any(log_e >= math.log(1 / alpha), axis=1)))
    fixed = float(np.mean(np.any(np.abs(x - n * p) > 1.96 * np.sqrt(n * p * (1 - p)), axis=1)))
    assert missed <= alpha < fixed


def _canary_looks(rng, theta: float, looks: int = 18, rate: float = 600):
    """One canary's increments: stable error rate 2 %, the canary's theta x that, weight 10 -> 25 -> 50 %."""
    for k in range(looks):
        rho = (0.1, 0.25, 0.5)[k * 3 // looks]
        nc, ns = rng.poisson(rate * rho), rng.poisson(rate * (1 - rho))
        yield Increment(rng.binomial(nc, 0.02 * theta), rng.binomial(ns, 0.02), max(nc, 1), max(ns, 1))


@pytest.mark.parametrize(
    ("theta", "theta0", "mixture", "side"), [(1.0, 1.0, 2.0, "above"), (2.0, 2.0, 1.0, "below")]
)
def test_each_one_sided_test_is_valid_over_many_looks_while_the_traffic_share_changes(
    theta, theta0, mixture, side
):
    """At the tested ratio (1 for a rollback, 2 for a pass), the canary's weight moving 10 -> 25 -> 50 %, a look
    every increment: the mixture ratio ever reaches 1 / alpha in at most alpha of 400 canaries (Ville)."""
    rng = np.random.default_rng(1)
    alpha, canaries = 0.1, 400
    crossed = 0
    for _ in range(canaries):
        incs: list[Increment] = []
        for inc in _canary_looks(rng, theta):
            incs.append(inc)
            if ratio_log_e(incs, theta0, Mixture(mixture, 0.3), side) >= math.log(1 / alpha):
                crossed += 1
                break
    assert crossed / canaries <= alpha


def test_a_doubled_error_rate_is_found_and_an_equal_one_excludes_2x():
    """2x the stable error rate (1 %), half the traffic on the canary, 50 requests/s, a look every 10 s: the
    lower bound passes 1 within five minutes (looked at every minute) in most canaries; with equal rates the upper bound falls
    below 2 in most."""
    rng = np.random.default_rng(2)
    found = excluded = 0
    for _ in range(50):
        doubled: list[Increment] = []
        equal: list[Increment] = []
        for _look in range(30):
            nc, ns = rng.poisson(250), rng.poisson(250)
            doubled.append(Increment(rng.binomial(nc, 0.02), rng.binomial(ns, 0.01), nc, ns))
            equal.append(Increment(rng.binomial(nc, 0.01), rng.binomial(ns, 0.01), nc, ns))
        found += any(
            ratio_bound(doubled[:k], 0.0025, Mixture(2.0, 0.3), "lower") > 1 for k in range(6, 31, 6)
        )
        excluded += ratio_bound(equal, 0.005, Mixture(1.0, 0.3), "upper") < 2
    assert found >= 40 and excluded >= 30
