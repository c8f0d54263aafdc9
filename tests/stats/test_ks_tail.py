"""The KS tail's closed form (gates.stats.drift_tests.smirnov_tail) against scipy's kstwo.sf, which it
replaces where scipy sums over every row: never below scipy's p-value (no extra alarm), above it by at most
40/n (relative) wherever p >= 1e-8, and unused outside that tail; and the sorted union the exact KS and
Wasserstein paths take is numpy's union1d."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstwo

from gates.stats import drift_tests as dt

SIZES = [dt.CLOSED_FORM_KS, 61_803, 200_000]


@pytest.mark.parametrize("n", SIZES)
def test_closed_form_is_never_below_scipy_and_close_where_it_matters(n):
    for z in np.linspace(np.sqrt(2.2) * (1 + 1e-9), 12.0, 24):  # z = sqrt(n) d over the whole tail
        d = z / np.sqrt(n)
        exact, closed = float(kstwo.sf(d, n)), dt.smirnov_tail(d, n)
        assert closed is not None
        assert closed >= exact * (1 - 1e-12), (n, d)
        if exact >= 1e-8:
            assert closed <= exact * (1 + 40 / n), (n, d)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(dt.CLOSED_FORM_KS, 250_000), z=st.floats(np.sqrt(2.2) * (1 + 1e-9), 3.0))
def test_closed_form_bounds_scipy_at_any_size(n, z):
    d = z / np.sqrt(n)  # z <= 3 keeps p above 1e-8
    exact, closed = float(kstwo.sf(d, n)), dt.smirnov_tail(d, n)
    assert closed is not None and exact * (1 - 1e-12) <= closed <= exact * (1 + 40 / n)


def test_scipy_outside_the_tail():
    assert dt.smirnov_tail(0.001, 1_000_000) is None  # n d^2 = 1 < 2.2: scipy's own fast series
    assert dt.smirnov_tail(0.05, dt.CLOSED_FORM_KS - 1) is None  # below the size: scipy exactly
    for d, n1, n2 in [(0.001, 1_000_000, 1_000_000), (0.05, 10_000, 30_000)]:
        en = round(n1 * n2 / (n1 + n2))
        assert dt.ks_asymptotic_p(d, n1, n2) == pytest.approx(float(kstwo.sf(d, en)), rel=1e-15)


def test_the_tail_on_the_gate_path():
    """The KS test at a million rows a side uses the closed form and is the scipy value to 40/n."""
    p = dt.ks_asymptotic_p(0.003, 1_000_000, 1_000_000)
    assert p == pytest.approx(float(kstwo.sf(0.003, 500_000)), rel=40 / 500_000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40),
    st.lists(st.sampled_from([0.0, 0.5, 1.0, -3.0, 1e-300, 2.5]), max_size=60),
)
def test_sorted_union_is_numpys_union(first, second):
    a, b = np.sort(np.asarray(first, dtype=np.float64)), np.sort(np.asarray(second, dtype=np.float64))
    np.testing.assert_array_equal(dt.sorted_union(a, b), np.union1d(a, b))
