"""The fixed-horizon test at the canary's terminal look (gates.stats.terminal): exact where it claims to be,
at its level under no change by simulation at the bench's traffic, and with the power it is there for."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom, binomtest, norm

from gates.stats.sequential import Increment
from gates.stats.terminal import ratio_p_value, shift_p_value

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, math.inf)


def test_one_increment_is_scipys_exact_binomial_test():
    # 30 canary errors of 70, the canary serving a quarter of the requests: share 1/4 under no change
    increment = Increment(canary_events=30, stable_events=40, canary_trials=1000, stable_trials=3000)
    expected = binomtest(30, 70, 0.25, alternative="greater").pvalue
    assert ratio_p_value([increment], 1.0) == pytest.approx(expected, rel=1e-9)
    below = binomtest(30, 70, 0.25 * 2 / (0.25 * 2 + 0.75), alternative="less").pvalue
    assert ratio_p_value([increment], 2.0, "below") == pytest.approx(below, rel=1e-9)


def test_increments_with_different_shares_are_the_exact_convolution():
    increments = [Increment(3, 5, 100, 900), Increment(6, 4, 500, 500), Increment(2, 1, 250, 750)]
    theta = 1.5
    shares = [theta * c / (theta * c + s) for c, s in ((100, 900), (500, 500), (250, 750))]
    sizes = [8, 10, 3]
    tail = 0.0
    for counts in itertools.product(*(range(n + 1) for n in sizes)):
        if sum(counts) >= 11:
            tail += math.prod(binom.pmf(k, n, p) for k, n, p in zip(counts, sizes, shares))
    assert ratio_p_value(increments, theta) == pytest.approx(tail, rel=1e-9)
    assert ratio_p_value([], 1.0) == 1.0 and ratio_p_value([Increment(0, 0, 10, 10)], 1.0) == 1.0


def _latency_probabilities(factor: float) -> np.ndarray:
    cdf = norm.cdf(np.log(np.array(BOUNDS[:-1]) / (0.05 * factor)) / 0.5)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def _canary(rng, rps: float, error_factor: float, latency_factor: float):
    """18 looks 10 s apart at 10, 25, then 50 % (the bench's loop): per-increment errors and buckets."""
    increments, canary, stable = [], [], []
    for k in range(18):
        share = (0.1, 0.25, 0.5)[min(k, 2)]
        nc, ns = rng.poisson(rps * share * 10), rng.poisson(rps * (1 - share) * 10)
        ec, es = rng.binomial(nc, 0.01 * error_factor), rng.binomial(ns, 0.01)
        increments.append(Increment(ec, es, nc, ns))
        canary.append(rng.multinomial(nc, _latency_probabilities(latency_factor)))
        stable.append(rng.multinomial(ns, _latency_probabilities(1.0)))
    return increments, np.array(canary), np.array(stable)


@pytest.mark.parametrize("rps", [2, 10, 50])
def test_under_no_change_both_tests_keep_their_level(rps):
    """Known truth: the canary is the stable build. 4,000 canaries a traffic level; the rejections at 1 % and
    5 % stay within three standard errors of the level (the latency test's normal tail is an approximation;
    60,000 canaries at 2 requests/s measured 0.26 % at 0.25 %)."""
    rng = np.random.default_rng(rps)
    runs = 4000
    p_ratio, p_shift = np.empty(runs), np.empty(runs)
    for i in range(runs):
        increments, canary, stable = _canary(rng, rps, 1.0, 1.0)
        p_ratio[i] = ratio_p_value(increments, 1.0)
        p_shift[i] = shift_p_value(canary, stable)
    for level in (0.01, 0.05):
        slack = 3 * math.sqrt(level * (1 - level) / runs)
        assert (p_ratio <= level).mean() <= level + slack
        assert (p_shift <= level).mean() <= level + slack


def test_the_power_the_terminal_look_is_there_for():
    """At the share each test gets by default (alpha 0.01, half on the terminal look, two comparisons: 0.25 %):
    a doubled error rate at 50 requests/s and a 30 % slower canary at 2 requests/s, each in 300 canaries."""
    rng = np.random.default_rng(5)
    errors = [ratio_p_value(_canary(rng, 50, 2.0, 1.0)[0], 1.0) for _ in range(300)]
    slower = []
    for _ in range(300):
        _, canary, stable = _canary(rng, 2, 1.0, 1.3)
        slower.append(shift_p_value(canary, stable))
    assert np.mean(np.array(errors) <= 0.0025) > 0.75
    assert np.mean(np.array(slower) <= 0.0025) > 0.5
    faster = [shift_p_value(*_canary(rng, 10, 1.0, 0.7)[1:]) for _ in range(50)]
    assert min(faster) > 0.5  # a faster canary is no evidence of a slower one
