"""Drift statistics: every test and distance against scipy, the corrections against their definitions, and the
decision's false-alarm rate and power by simulation with known truths (fixed seeds, a few seconds)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats as st
from numpy.testing import assert_allclose
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from gates.stats import drift as ds
from gates.stats import drift_tests as dt
from gates.stats.drift_profiles import CategoricalProfile, profile_numeric


# ------------------------------------------------------------------------------------ statistics vs scipy
@pytest.mark.parametrize("n_ref,n_cur", [(300, 200), (900, 40000), (20000, 15000)])
def test_ks_equals_scipy_on_an_exact_reference(n_ref, n_cur):
    rng = np.random.default_rng(n_ref)
    ref = np.round(rng.normal(0, 1, n_ref), 2)  # ties, and at most 2000 distinct values: stored exactly
    cur = np.round(rng.normal(0.1, 1.1, n_cur), 2)
    profile = profile_numeric(ref)
    assert profile.exact
    result = dt.ks_test(profile, np.sort(cur))
    expected = st.ks_2samp(ref, cur)
    assert_allclose(result.statistic, expected.statistic, rtol=1e-12)
    assert_allclose(result.p_value, expected.pvalue, rtol=1e-9, atol=1e-300)
    assert not result.approximate


def test_ks_from_quantiles_is_a_lower_bound_and_says_it_is_approximate():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 50000), rng.normal(0.03, 1, 40000)
    result = dt.ks_test(profile_numeric(ref), np.sort(cur))
    expected = st.ks_2samp(ref, cur)
    assert result.approximate and "quantile points" in result.notes[0]
    assert abs(result.statistic - expected.statistic) < 2e-3
    assert (
        result.statistic <= expected.statistic + 1e-12
    )  # so the p-value is never smaller than the exact one
    assert result.p_value >= st.ks_2samp(ref, cur, method="asymp").pvalue * (1 - 1e-9)


@pytest.mark.parametrize("exact", [True, False])
def test_wasserstein_equals_scipy(exact):
    rng = np.random.default_rng(2)
    if exact:
        ref, cur = rng.poisson(3, 30000).astype(float), rng.poisson(3.3, 20000).astype(float)
    else:
        ref, cur = rng.lognormal(0, 1, 60000), rng.lognormal(0.1, 1.1, 50000)  # skewed: the hard case
    profile = profile_numeric(ref)
    assert profile.exact is exact
    distance, approximate = dt.wasserstein(profile, np.sort(cur))
    expected = st.wasserstein_distance(ref, cur)
    assert approximate is not exact
    if exact:
        assert_allclose(distance, expected, rtol=1e-12)
    else:  # off by far less than the tolerance's scale (0.1 reference std)
        assert abs(distance - expected) / np.std(ref) < 1e-3
    result = ds.compare_numeric("x", profile, cur)
    assert result.distance == "wasserstein"
    assert_allclose(
        result.distance_value, distance / np.std(ref), rtol=1e-12
    )  # normalised by the reference std
    if exact:  # compare_numeric builds the CDF gap once for both: the same numbers as each alone
        alone = dt.ks_test(profile, np.sort(cur))
        assert (result.statistic, result.p_value) == (alone.statistic, alone.p_value)
        gap = dt.exact_gap(profile, np.sort(cur))
        assert dt.wasserstein(profile, np.sort(cur), gap) == (distance, False)


def test_chisquare_jensen_shannon_psi_and_total_variation_equal_their_definitions():
    ref = np.array([120.0, 300.0, 80.0, 0.0])
    cur = np.array([100.0, 260.0, 110.0, 30.0])  # last category unseen in the reference
    result = dt.chi_square(ref, cur)
    expected = st.chi2_contingency(np.vstack([ref, cur])[:, :], correction=False)
    assert result.test == "chisquare" and not result.notes  # every expected count >= 5: nothing pooled
    assert_allclose(
        [result.statistic, result.p_value, result.extra["dof"]],
        [expected.statistic, expected.pvalue, expected.dof],
        rtol=1e-12,
    )
    assert_allclose(dt.jensen_shannon(ref, cur), jensenshannon(ref / ref.sum(), cur / cur.sum()), rtol=1e-12)
    value, empty = dt.psi(ref, cur)
    r = np.where(ref == 0, dt.EPSILON, ref / ref.sum())
    c = np.where(cur == 0, dt.EPSILON, cur / cur.sum())
    assert_allclose(value, np.sum(rel_entr(c, r) + rel_entr(r, c)), rtol=1e-12)  # PSI = symmetric KL
    assert empty == 1
    shares = [0.25, 0.25, 0.25, 0.25]
    moved = [0.30, 0.20, 0.25, 0.25]  # a 5-point shift
    assert_allclose(dt.total_variation(np.array(shares), np.array(moved)), 0.05, rtol=1e-12)


def test_rare_categories_are_pooled_and_a_single_cell_falls_back_to_fisher():
    ref = np.array([50000.0, 30000.0, 19500.0, 400.0, 100.0])
    cur = np.array([15.0, 10.0, 4.0, 1.0, 0.0])  # 30 rows: the last two expect 0.12 and 0.03
    pooled_ref, pooled_cur, pooled = dt.pool_rare(ref, cur)
    assert pooled >= 2 and pooled_ref.sum() == ref.sum() and pooled_cur.sum() == cur.sum()
    expected = pooled_cur.sum() * (pooled_ref + pooled_cur) / (ref.sum() + cur.sum())
    assert expected.min() >= dt.MIN_EXPECTED
    result = dt.chi_square(ref, cur)
    table = np.vstack([pooled_ref, pooled_cur])
    assert_allclose(result.p_value, st.chi2_contingency(table, correction=False).pvalue, rtol=1e-12)
    assert "pooled" in result.notes[0]
    two = dt.chi_square(np.array([30.0, 2.0]), np.array([25.0, 5.0]))  # 2 x 2, small expected: Fisher
    assert two.test == "fisher"
    assert_allclose(two.p_value, st.fisher_exact([[30, 2], [25, 5]]).pvalue, rtol=1e-12)


def test_corrections_equal_their_definitions():
    rng = np.random.default_rng(3)
    p = np.r_[rng.uniform(size=12), 1e-4, 0.003, 0.02]
    assert_allclose(dt.adjust(list(p), "bh"), st.false_discovery_control(p), rtol=1e-12)
    m = p.size
    order = np.argsort(p)
    holm = np.empty(m)  # Holm: running maximum of (m - i) p_(i), capped at 1
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, (m - i) * p[j])
        holm[j] = min(1.0, running)
    assert_allclose(dt.adjust(list(p), "holm"), holm, rtol=1e-12)
    assert dt.adjust(list(p), "none") == list(p)
    with pytest.raises(ValueError, match="unknown multiple-testing method"):
        dt.adjust([0.1], "bonferroni")


# ------------------------------------------------------------------------------------------- the decision
def _flags(kind: str, n_ref: int, n_cur: int, shift: float, reps: int, seed: int) -> float:
    """Share of fresh reference / current draws in which one column is flagged (truth known: shift)."""
    rng = np.random.default_rng(seed)
    shares = np.array([0.40, 0.30, 0.20, 0.095, 0.005])
    moved = shares + np.array([-shift, shift, 0, 0, 0])
    names = [f"c{i}" for i in range(shares.size)]
    hits = 0
    for _ in range(reps):
        if kind == "numeric":
            r = ds.compare_numeric(
                "x",
                profile_numeric(rng.standard_normal(n_ref)),
                rng.standard_normal(n_cur) + shift,
                with_plot=False,
            )
        else:
            ref = rng.multinomial(n_ref, shares)
            profile = CategoricalProfile(n_ref, 0, {n: int(c) for n, c in zip(names, ref) if c})
            r = ds.compare_categorical("x", profile, names, rng.multinomial(n_cur, moved), 0, with_plot=False)
        ds.decide([r])
        hits += bool(r.drifted)
    return hits / reps


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_false_alarms_stay_at_the_level_for_every_size_pair(kind):
    """No drift, sizes from 30 to 10^5 on either side (across Evidently's 1000-row switch): at most 5% plus
    sampling noise (300 draws: 3 standard errors is 3.8 points; the bench measures 1000 draws per cell)."""
    sizes = [(30, 30), (1000, 30), (1001, 30), (100_000, 30), (30, 1000), (1001, 1000), (100_000, 2000)]
    rates = {pair: _flags(kind, *pair, shift=0.0, reps=300, seed=pair[0] * 7 + pair[1]) for pair in sizes}
    assert max(rates.values()) <= 0.09, rates
    assert np.mean(list(rates.values())) <= 0.06, rates  # pooled over 2100 draws: 3 SE is 1.4 points


@pytest.mark.parametrize("kind,shift", [("numeric", 0.2), ("categorical", 0.05)])
def test_power_grows_smoothly_with_the_current_size_and_has_no_switch(kind, shift):
    """A meaningful shift (0.2 sd; 5 points of share) is found more often as the batch grows, and 1000 vs 1001
    reference rows make no difference (Evidently: 91% against 1.5% for the same shift)."""
    power = [_flags(kind, 20_000, n, shift, reps=150, seed=n) for n in (100, 400, 3000)]
    assert power[0] < power[1] < power[2] and power[2] >= 0.95, power
    at_1000, at_1001 = (_flags(kind, n, 1000, shift, reps=200, seed=7) for n in (1000, 1001))
    assert abs(at_1000 - at_1001) < 0.1, (at_1000, at_1001)


def test_a_trivial_shift_on_huge_samples_stays_within_the_tolerance():
    """On 10^6 rows a 0.02 sd shift is highly significant, but far below the tolerance (0.1 sd): no drift."""
    rng = np.random.default_rng(11)
    r = ds.compare_numeric(
        "x", profile_numeric(rng.standard_normal(10**6)), rng.standard_normal(10**6) + 0.02
    )
    ds.decide([r])
    assert r.p_value is not None and r.p_value < 1e-10 and r.drifted is False
    assert "within tolerance 0.1" in r.reason


def test_a_p_value_that_underflows_to_zero_still_counts():
    """Large shifts on large samples give p == 0.0 in floating point; that is the strongest evidence, not none
    (found by the calibration bench: power fell to 0% at 10^6 rows)."""
    rng = np.random.default_rng(15)
    r = ds.compare_numeric("x", profile_numeric(rng.standard_normal(10**5)), rng.standard_normal(10**5) + 0.3)
    assert r.p_value == 0.0
    ds.decide([r])
    assert r.drifted is True and r.p_adjusted == 0.0


def test_the_correction_keeps_the_family_wise_false_alarms_at_the_level():
    """20 undrifted columns: without a correction most data sets show a drifted column; with BH or Holm
    about 5% do (for independent columns under the global null BH controls the family-wise rate too)."""
    rng = np.random.default_rng(12)
    any_flag = dict.fromkeys(dt.CORRECTIONS, 0)
    reps = 150
    for _ in range(reps):
        p_values = [
            st.ks_2samp(rng.standard_normal(2000), rng.standard_normal(100)).pvalue for _ in range(20)
        ]
        for method in any_flag:
            any_flag[method] += min(dt.adjust(p_values, method)) < 0.05
    assert any_flag["none"] / reps > 0.4
    assert any_flag["bh"] / reps <= 0.1 and any_flag["holm"] / reps <= 0.1, any_flag


def test_decide_states_test_p_values_distance_and_correction():
    rng = np.random.default_rng(13)
    profile = profile_numeric(rng.standard_normal(5000))
    columns = [ds.compare_numeric(f"x{i}", profile, rng.normal(0.5 * i, 1, 500)) for i in range(3)]
    ds.decide(columns, alpha=0.05, correction="holm")
    calm, _, far = columns
    assert calm.status == "no_drift" and calm.plot is None
    assert far.status == "drift" and far.plot is not None
    for c in columns:
        assert (
            c.test == "ks"
            and c.correction == "holm"
            and c.p_adjusted is not None
            and c.p_adjusted >= c.p_value
        )
        d = c.to_dict()
        assert {
            "test",
            "statistic",
            "p_value",
            "p_adjusted",
            "distance_value",
            "tolerance",
            "correction",
        } <= set(d)
    assert far.reason.startswith("drift: Kolmogorov-Smirnov p ") and "(Holm " in far.reason
    assert "> tolerance 0.1" in far.reason


def test_empty_bins_are_explicit_for_psi_and_jensen_shannon():
    rng = np.random.default_rng(9)
    profile = profile_numeric(rng.normal(size=5000))
    result = ds.compare_numeric("x", profile, rng.normal(5, 0.1, 3000), distance="psi")  # all in the top bin
    assert "9 empty bins set to epsilon 0.0001" in result.notes
    js = ds.compare_numeric("x", profile, rng.normal(5, 0.1, 3000), distance="jensenshannon")
    assert "9 empty bins contribute 0 (no epsilon needed)" in js.notes


@pytest.mark.parametrize("n_ref,n_cur", list(itertools.product((40, 5000), (40, 5000))))
def test_binned_distances_use_right_closed_reference_quantile_bins(n_ref, n_cur):
    rng = np.random.default_rng(n_ref + n_cur)
    ref, cur = rng.normal(0, 1, n_ref), rng.normal(0.2, 1, n_cur)
    profile = profile_numeric(ref)
    edges = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    assert_allclose(profile.bin_edges, edges, rtol=1e-12)
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10)
    js = ds.compare_numeric("x", profile, cur, distance="jensenshannon")
    assert_allclose(js.distance_value, jensenshannon(ref_counts / n_ref, cur_counts / n_cur), rtol=1e-12)
