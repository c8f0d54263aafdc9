"""gates.stats.sequential: the mixture ratios against direct numerical integration, and the confidence sequences'
guarantee (coverage at every look at once) and power by simulation with known truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from gates.stats.sequential import (
    Increment,
    rate_bounds,
    rate_log_e,
    ratio_bounds,
    ratio_log_likelihood,
    ratio_log_marginal,
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
    "increments",
    [
        [Increment(20, 80, 1000, 9000), Increment(40, 60, 2500, 7500)],
        [Increment(0, 30, 3000, 3000)],
        [Increment(5000, 4900, 1e6, 1e6)],  # a likelihood far sharper than the coarse grid
    ],
)
def test_ratio_marginal_matches_numerical_integration(increments):
    xc = np.array([i.canary_events for i in increments], dtype=float)
    xs = np.array([i.stable_events for i in increments], dtype=float)
    logit = np.log([i.canary_trials / i.stable_trials for i in increments])
    peak_guess = math.log(max(xc.sum(), 0.5) / max(xs.sum(), 0.5)) - float(np.mean(logit))
    offset = float(ratio_log_likelihood(np.asarray(peak_guess), xc, xs, logit))

    def integrand(phi: float) -> float:
        ll = float(ratio_log_likelihood(np.asarray(phi), xc, xs, logit)) - offset
        return math.exp(ll) * stats.norm.pdf(phi)

    direct, _ = integrate.quad(integrand, -20, 20, points=[peak_guess], epsabs=0, epsrel=1e-10, limit=500)
    assert ratio_log_marginal(xc, xs, logit, 1.0) == pytest.approx(math.log(direct) + offset, abs=1e-6)


def test_ratio_bounds_are_where_the_mixture_ratio_crosses_one_over_alpha():
    incs = [Increment(20, 80, 1000, 9000), Increment(40, 60, 2500, 7500)]
    b = ratio_bounds(incs, 0.05)
    xc, xs = np.array([20.0, 40.0]), np.array([80.0, 60.0])
    logit = np.log([1000 / 9000, 2500 / 7500])
    for theta in (b.lower, b.upper):
        log_e = b.log_marginal - float(ratio_log_likelihood(np.asarray(math.log(theta)), xc, xs, logit))
        assert log_e == pytest.approx(math.log(20), abs=1e-6)
    assert b.lower < b.estimate < b.upper


def test_no_events_bound_nothing():
    assert rate_bounds(0, 0, 0.01) == (0.0, 1.0)
    b = ratio_bounds([Increment(0, 0, 100, 100)], 0.01)
    assert (b.lower, b.upper) == (0.0, math.inf)


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


def test_ratio_sequence_is_valid_over_many_looks_while_the_traffic_share_changes():
    """Equal error rates on both tracks, the canary's weight moving 10 -> 25 -> 50 %: the mixture ratio at the
    true ratio 1 ever reaches 1 / alpha in at most alpha of the canaries (Ville)."""
    rng = np.random.default_rng(1)
    alpha, canaries, looks = 0.1, 300, 18
    crossed = 0
    for _ in range(canaries):
        rows = []
        for k in range(looks):
            rho = (0.1, 0.25, 0.5)[k * 3 // looks]
            nc, ns = rng.poisson(600 * rho), rng.poisson(600 * (1 - rho))
            rows.append((rng.binomial(nc, 0.02), rng.binomial(ns, 0.02), max(nc, 1), max(ns, 1)))
            xc, xs, n_c, n_s = (np.asarray(col, dtype=float) for col in zip(*rows))
            logit = np.log(n_c / n_s)
            log_e = ratio_log_marginal(xc, xs, logit, 1.0) - float(
                ratio_log_likelihood(np.asarray(0.0), xc, xs, logit)
            )
            if log_e >= math.log(1 / alpha):
                crossed += 1
                break
    assert crossed / canaries <= alpha


def test_a_doubled_error_rate_is_found():
    """2x the stable error rate (1 %), half the traffic on the canary, 50 requests/s: the lower bound passes
    1.1 (the default tolerance) within five minutes of looks every 10 s in nearly every canary."""
    rng = np.random.default_rng(2)
    found = 0
    for _ in range(50):
        incs = []
        for _look in range(30):
            nc, ns = rng.poisson(250), rng.poisson(250)
            incs.append(Increment(rng.binomial(nc, 0.02), rng.binomial(ns, 0.01), nc, ns))
            if ratio_bounds(incs, 0.01).lower > 1.1:
                found += 1
                break
    assert found >= 35
