import math

import numpy as np
import pytest
from scipy.stats import binom, binomtest, mannwhitneyu

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

BOUNDS = (0.01, 0.05, 0.1, 0.15, 0.2, 0.5, 1.0, math.inf)


def hist(values, bounds=BOUNDS):
    values = np.asarray(values)
    return Histogram.from_buckets({b: float((values <= b).sum()) for b in bounds})


def test_rate_bounds_edges_and_coverage():
    assert rate_bounds(Counts(0, 0), 0.99) == (0.0, 1.0)
    lo, hi = rate_bounds(Counts(0, 300), 0.99)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.01 ** (1 / 300), rel=1e-6)  # the exact zero-events bound
    assert rate_bounds(Counts(10, 10), 0.99)[1] == 1.0
    rng = np.random.default_rng(0)
    k = rng.binomial(400, 0.02, 2000)
    covered = [rate_bounds(Counts(x, 400), 0.95)[1] >= 0.02 for x in k]
    assert np.mean(covered) >= 0.95


def test_compare_rates_is_the_conditional_binomial_test_with_mid_p():
    r = compare_rates(Counts(30, 1500), Counts(15, 1500))
    assert r.ratio == pytest.approx(2.0)
    exact = binomtest(30, 45, 0.5, alternative="greater").pvalue
    assert r.p_higher == pytest.approx(exact - 0.5 * binom.pmf(30, 45, 0.5))
    assert r.p_lower > 0.98 and r.p_higher + r.p_lower == pytest.approx(1.0)
    same = compare_rates(Counts(5, 500), Counts(50, 5000))
    assert same.p_higher > 0.3 and same.p_lower > 0.3
    assert compare_rates(Counts(0, 100), Counts(0, 100)).p_higher == 1.0
    assert compare_rates(Counts(3, 100), Counts(0, 1000)).ratio == math.inf


def test_histogram_quantile_interpolates_like_prometheus():
    h = Histogram.from_buckets({0.1: 50, 0.2: 100, math.inf: 100})
    assert histogram_quantile(0.5, h) == pytest.approx(0.1)
    assert histogram_quantile(0.75, h) == pytest.approx(0.15)
    assert histogram_quantile(0.25, h) == pytest.approx(0.05)  # the first bucket starts at 0
    top = Histogram.from_buckets({0.1: 10, 0.2: 20, math.inf: 100})
    assert histogram_quantile(0.95, top) == 0.2  # in the +Inf bucket: the largest finite bound
    assert histogram_quantile(0.5, Histogram.from_buckets({0.1: 0, math.inf: 0})) is None


def test_from_buckets_repairs_crossing_extrapolated_counts():
    h = Histogram.from_buckets({0.1: 10.4, 0.2: 10.1, math.inf: 12.0})
    assert list(h.cumulative) == [10.4, 10.4, 12.0] and h.counts.min() >= 0


def test_quantile_bounds_need_enough_requests_and_bracket_the_point():
    rng = np.random.default_rng(1)
    few = hist(0.05 * np.exp(0.5 * rng.standard_normal(20)))
    assert quantile_bounds(0.95, few, 0.99)[1] == math.inf  # 20 requests cannot bound a p95 from above at 99%
    many = hist(0.05 * np.exp(0.5 * rng.standard_normal(5000)))
    lo, hi = quantile_bounds(0.95, many, 0.99)
    point = histogram_quantile(0.95, many)
    assert lo <= point <= hi and hi - lo < 0.03


def test_quantile_upper_bound_covers_the_true_p95():
    rng = np.random.default_rng(2)
    true = 0.05 * math.exp(0.5 * 1.6449)
    covered = [
        quantile_bounds(0.95, hist(0.05 * np.exp(0.5 * rng.standard_normal(300))), 0.99)[1] >= true
        for _ in range(300)
    ]
    assert np.mean(covered) >= 0.97


def test_binned_mann_whitney_matches_scipy_on_tied_values():
    rng = np.random.default_rng(3)
    c = rng.choice(BOUNDS[:-1], 80, p=[0.1, 0.2, 0.3, 0.2, 0.1, 0.05, 0.05])
    s = rng.choice(BOUNDS[:-1], 120, p=[0.2, 0.3, 0.2, 0.15, 0.1, 0.03, 0.02])
    ours = binned_mann_whitney(hist(c), hist(s))
    theirs = mannwhitneyu(c, s, alternative="greater", method="asymptotic", use_continuity=True).pvalue
    assert ours.p_higher == pytest.approx(theirs, rel=1e-6)
    assert ours.auc > 0.5
    empty = binned_mann_whitney(Histogram.from_buckets({1.0: 0, math.inf: 0}), hist(s, (1.0, math.inf)))
    assert empty.p_higher == 1.0 and empty.p_lower == 1.0
    with pytest.raises(ValueError):
        binned_mann_whitney(hist(c), hist(s, (0.5, math.inf)))


def test_ks_bounds():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0, 1, 2000), rng.uniform(0, 1, 2000)
    bounds = tuple(round(0.05 * i, 2) for i in range(1, 21)) + (math.inf,)
    same = ks_bounds(hist(a, bounds), hist(b, bounds), 0.98)
    assert same.distance < 0.06 and same.lower == 0.0 and same.upper < 0.2
    shifted = ks_bounds(hist(np.clip(a + 0.4, 0, 1), bounds), hist(b, bounds), 0.98)
    assert shifted.lower > 0.2 and shifted.distance == pytest.approx(0.4, abs=0.05)
