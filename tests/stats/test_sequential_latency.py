"""gates.stats.sequential_latency: the shift e-value keeps its guarantee over many looks (no change, and a faster
canary, while the traffic share moves) and finds a 30 % slower canary; the quantile bounds cover the true
quantile at every look at once; any cumulative counts give ordered bounds."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from gates.stats.sequential_latency import mid_rank_scores, quantile_bounds, shift_log_e, shifted_up

# examples/service/metrics.py LATENCY_BUCKETS and +Inf
BOUNDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, math.inf)


def bucket_probabilities(factor: float) -> np.ndarray:
    """Lognormal latency, median 50 ms x factor, sd 0.5 of the log, into the buckets."""
    cdf = norm.cdf(np.log(np.array(BOUNDS[:-1]) / (0.05 * factor)) / 0.5)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def crossing_share(factor: float, side: str, canaries: int, alpha: float, rps: float, seed: int) -> float:
    """Share of canaries whose shift e-value ever reaches 1 / alpha over 18 looks, 10 s apart, the canary's
    weight moving 10 -> 25 -> 50 %."""
    rng = np.random.default_rng(seed)
    canary_p, stable_p = bucket_probabilities(factor), bucket_probabilities(1.0)
    crossed = 0
    for _ in range(canaries):
        rows_c, rows_s = [], []
        for k in range(18):
            w = (0.1, 0.25, 0.5)[k // 6]
            rows_c.append(rng.multinomial(rng.poisson(rps * w * 10), canary_p))
            rows_s.append(rng.multinomial(rng.poisson(rps * (1 - w) * 10), stable_p))
            if shift_log_e(np.array(rows_c), np.array(rows_s), 1.5, 1.0, side) >= math.log(1 / alpha):
                crossed += 1
                break
    return crossed / canaries


def test_no_change_rarely_crosses_however_often_one_looks():
    assert crossing_share(1.0, "slower", 300, 0.1, 20, seed=0) <= 0.1


def test_a_faster_canary_is_not_taken_for_a_slower_one():
    assert crossing_share(0.8, "slower", 200, 0.1, 20, seed=1) <= 0.02


def test_a_30_percent_slower_canary_is_found_at_10_requests_per_second():
    assert crossing_share(1.3, "slower", 50, 0.0025, 10, seed=2) >= 0.9


def test_mid_rank_scores_are_centred_ranks():
    assert np.allclose(mid_rank_scores(np.array([2.0, 0.0, 2.0])), [-0.25, 0.0, 0.25])
    assert np.allclose(mid_rank_scores(np.zeros(3)), 0.0)


def test_quantile_bounds_cover_the_true_quantile_at_every_look():
    """1000 canaries of 2000 requests, a look after every 50: the true p95 (114 ms, in the (0.1, 0.15] bucket)
    stays within the bounds at every look in at least 1 - alpha of them."""
    rng = np.random.default_rng(3)
    alpha, truth = 0.05, 0.05 * math.exp(norm.ppf(0.95) * 0.5)
    missed = 0
    for _ in range(1000):
        counts = rng.multinomial(50, bucket_probabilities(1.0), size=40).cumsum(axis=0)
        for row in counts:
            lower, upper = quantile_bounds(BOUNDS, np.cumsum(row), 0.95, alpha)
            if not lower < truth <= upper:
                missed += 1
                break
    assert missed / 1000 <= alpha


def test_a_look_with_no_requests_bounds_nothing():
    assert quantile_bounds(BOUNDS, [0.0] * len(BOUNDS), 0.95, 0.01) == (0.0, math.inf)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=16), st.floats(0.01, 0.99))
def test_bounds_are_ordered_bucket_bounds_for_any_counts(counts, q):
    bounds = tuple(float(b) for b in range(1, len(counts))) + (math.inf,)
    lower, upper = quantile_bounds(bounds, np.cumsum(counts).tolist(), q, 0.01)
    assert lower < upper and (lower == 0.0 or lower in bounds) and upper in (*bounds, math.inf)


def test_moving_a_histogram_by_nothing_changes_nothing_and_keeps_every_request():
    counts = np.array([[3.0, 5.0, 7.0, 1.0] + [0.0] * 12])
    assert np.array_equal(shifted_up(counts, BOUNDS, 1.0, 0.0), counts)
    moved = shifted_up(counts, BOUNDS, 1.3, 0.005)
    assert moved.sum() == 16.0 and (moved[0, :2].sum() < counts[0, :2].sum())


def test_a_slow_down_within_the_tolerance_is_not_taken_for_a_regression():
    """Canary latencies 1.1 x stable's + 5 ms (the latency_p95 defaults' tolerance and min_effect), 50
    requests/s: against the stable histogram moved by that tolerance the e-value reaches 1 / alpha in at most
    alpha of the canaries (the move spreads each bucket evenly, which is approximate); against the unmoved one
    it finds the slow-down."""
    rng = np.random.default_rng(4)
    alpha, canaries = 0.1, 200
    draws = np.exp(np.log(0.05) + 0.5 * rng.standard_normal((canaries, 18, 2, 400)))
    within = found = 0
    for canary_draws in draws:
        rows_c, rows_s = [], []
        crossed = plain = False
        for k, (c_raw, s_raw) in enumerate(canary_draws):
            w = (0.1, 0.25, 0.5)[k // 6]
            nc = rng.poisson(50 * w * 10)
            ns = rng.poisson(50 * (1 - w) * 10)
            edges = np.array(BOUNDS)
            rows_c.append(np.bincount(np.searchsorted(edges, c_raw[:nc] * 1.1 + 0.005), minlength=16))
            rows_s.append(np.bincount(np.searchsorted(edges, s_raw[:ns]), minlength=16))
            c, s = np.array(rows_c, dtype=float), np.array(rows_s, dtype=float)
            crossed = crossed or shift_log_e(c, shifted_up(s, BOUNDS, 1.1, 0.005), 1.5, 1.0) >= math.log(
                1 / alpha
            )
            plain = plain or shift_log_e(c, s, 1.5, 1.0) >= math.log(1 / alpha)
        within += crossed
        found += plain
    assert within / canaries <= alpha and found / canaries >= 0.5
