"""The bootstrap over cells: compression, reproducibility, coverage, and equivalence with row resampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from gates.stats import metrics as m
from gates.stats.bootstrap import Cells, bootstrap, compress, percentile_interval, safe_divide, weight_chunks


def test_compress_groups_identical_rows_and_maps_back():
    y = np.array([1, 0, 1, 1, 0, 1])
    score = np.array([0.9, 0.2, 0.9, 0.4, 0.2, 0.9])
    cells = compress({"y": y, "score": score})
    assert cells.size == 3 and cells.rows == 6
    assert cells.counts.sum() == 6
    # every row is recovered from its cell
    np.testing.assert_array_equal(cells.columns["y"][cells.row_cell], y)
    np.testing.assert_array_equal(cells.columns["score"][cells.row_cell], score)
    assert dict(zip(cells.columns["score"], cells.counts)) == {0.2: 2, 0.4: 1, 0.9: 3}


def test_compress_keeps_multi_column_arrays_two_dimensional():
    proba = np.array([[0.2, 0.8], [0.5, 0.5], [0.2, 0.8]])
    cells = compress({"y": np.array([1, 0, 1]), "proba": proba})
    assert cells.columns["proba"].shape == (2, 2)
    assert cells.columns["y"].shape == (2,)
    np.testing.assert_array_equal(cells.columns["proba"][cells.row_cell], proba)


@pytest.mark.parametrize("seed", [0, 1])
def test_compress_equals_numpy_unique_rows(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    columns = {
        "y": rng.integers(0, 3, n),
        "pred": rng.integers(0, 3, n),
        "proba": np.round(rng.dirichlet([1, 1, 1], n), 1),
        "x": np.round(rng.normal(size=n), 1),
    }
    cells = compress(columns)
    matrix = np.column_stack([np.asarray(v, dtype=float).reshape(n, -1) for v in columns.values()])
    unique, inverse, counts = np.unique(matrix, axis=0, return_inverse=True, return_counts=True)
    rebuilt = np.column_stack([cells.columns[k].reshape(cells.size, -1) for k in columns])
    np.testing.assert_array_equal(rebuilt, unique)
    np.testing.assert_array_equal(cells.counts, counts)
    np.testing.assert_array_equal(cells.row_cell, inverse.reshape(-1))


@pytest.mark.parametrize("n", [30, 2000])  # few rows per cell (row draws) and many (multinomial)
def test_weights_draw_n_rows_per_resample(n):
    rng = np.random.default_rng(3)
    cells = compress({"v": rng.integers(0, 20, n)})
    chunks = list(weight_chunks(cells, 50, seed=1))
    weights = np.concatenate(chunks)
    assert weights.shape == (50, cells.size)
    np.testing.assert_array_equal(weights.sum(axis=1), np.full(50, n))
    assert (weights >= 0).all() and np.all(weights == np.round(weights))


def test_strata_keep_their_sizes_in_every_resample():
    rng = np.random.default_rng(4)
    group = np.repeat([0, 1, 2], [500, 40, 3])
    cells = compress({"g": group, "v": rng.integers(0, 5, group.size)}, strata_column="g")
    weights = next(weight_chunks(cells, 100, seed=0))
    for g, size in ((0, 500), (1, 40), (2, 3)):
        np.testing.assert_array_equal(weights[:, cells.strata == g].sum(axis=1), np.full(100, size))


def _binary_cells(n: int, seed: int) -> Cells:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.round(np.clip(0.25 * y + rng.uniform(0, 0.75, n), 0, 1), 1)
    return compress({"y": y, "pred": (score >= 0.5).astype(int), "score": score})


def _statistic(cells: Cells):
    cols = cells.columns
    return lambda w: m.binary(w, cols["y"], cols["pred"], cols["score"])


def test_bootstrap_is_reproducible_from_its_seed():
    cells = _binary_cells(300, 0)
    first = bootstrap(cells, _statistic(cells), 200, seed=5)
    again = bootstrap(cells, _statistic(cells), 200, seed=5)
    other = bootstrap(cells, _statistic(cells), 200, seed=6)
    for name in ("accuracy", "roc_auc", "log_loss"):
        np.testing.assert_array_equal(first[name], again[name])
        assert first[name].shape == (200,)
        assert not np.array_equal(first[name], other[name])
    assert percentile_interval(first["roc_auc"], 0.95) == percentile_interval(again["roc_auc"], 0.95)
    assert percentile_interval(first["roc_auc"], 0.95) != percentile_interval(other["roc_auc"], 0.95)


def test_interval_covers_true_accuracy_at_nominal_rate():
    """200 datasets from a population with accuracy 0.8: the 90% interval covers it about 90% of the time."""
    population = np.random.default_rng(2024)
    true_accuracy, n, covered = 0.8, 200, 0
    for trial in range(200):
        y = population.integers(0, 2, n)
        correct = population.random(n) < true_accuracy
        pred = np.where(correct, y, 1 - y)
        cells = compress({"y": y, "pred": pred})
        samples = bootstrap(
            cells, lambda w, c=cells: m.binary(w, c.columns["y"], c.columns["pred"], None), 200, seed=trial
        )
        interval = percentile_interval(samples["accuracy"], 0.90)
        covered += interval.low <= true_accuracy <= interval.high
    assert 168 <= covered <= 192, f"coverage {covered / 200:.0%}"


@pytest.mark.parametrize(("n", "seed"), [(40, 1), (400, 2)])  # row-draw branch and multinomial branch
def test_multinomial_over_cells_matches_row_resampling(n, seed):
    """Resampling cells by weights has the same distribution as resampling rows (quantiles and KS test)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = np.round(np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1), 1)  # ties within and across classes
    pred = (score >= 0.5).astype(int)
    cells = compress({"y": y, "pred": pred, "score": score})
    assert (cells.size * 4 < n) == (n == 400)  # each parametrisation exercises its branch
    resamples = 1500
    by_cells = bootstrap(cells, _statistic(cells), resamples, seed=11)

    rows = np.random.default_rng(12).integers(0, n, size=(resamples, n))
    direct_accuracy = (y[rows] == pred[rows]).mean(axis=1)
    # Mann-Whitney with mid-ranks for ties, vectorised over resamples (independent of the cell code)
    ranks = scipy_stats.rankdata(score[rows], axis=1)
    positives = y[rows].sum(axis=1).astype(float)
    negatives = n - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        direct_auc = ((ranks * y[rows]).sum(axis=1) - positives * (positives + 1) / 2) / (
            positives * negatives
        )
    assert direct_auc[0] == pytest.approx(roc_auc_score(y[rows[0]], score[rows[0]]))  # same definition

    for ours, direct, tolerance in (
        (by_cells["accuracy"], direct_accuracy, 0.03),
        (by_cells["roc_auc"], direct_auc, 0.03),
    ):
        ours, direct = ours[np.isfinite(ours)], direct[np.isfinite(direct)]
        qs = [0.05, 0.25, 0.5, 0.75, 0.95]
        np.testing.assert_allclose(np.quantile(ours, qs), np.quantile(direct, qs), atol=tolerance)
        assert abs(ours.mean() - direct.mean()) < tolerance / 3
        assert abs(ours.std() - direct.std()) < 0.15 * direct.std()
        assert scipy_stats.ks_2samp(ours, direct).pvalue > 0.01


def test_percentile_interval_ignores_undefined_resamples_but_not_too_many():
    samples = np.array([np.nan] * 10 + list(np.linspace(0, 1, 90)))
    interval = percentile_interval(samples, 0.9)
    assert interval.undefined_share == pytest.approx(0.1)
    assert interval.low == pytest.approx(0.05) and interval.high == pytest.approx(0.95)
    assert percentile_interval(np.array([np.nan] * 60 + [0.5] * 40), 0.95) is None
    assert percentile_interval(np.array([]), 0.95) is None


def test_safe_divide_gives_nan_not_inf_or_warning():
    with np.errstate(all="raise"):
        out = safe_divide(np.array([1.0, 0.0, 2.0]), np.array([0.0, 0.0, 4.0]))
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 0.5
