"""The metrics gate walks the exact cells' score levels once (gates.stats.metrics.ranking_point) for the point
ROC AUC, average precision and the DeLong variance behind the studentized AUC interval. These tests hold the
shared computation to the separate ones it replaced (ranking_metrics' point, studentized.auc_point) at 1e-12,
across ties, several level blocks, sorted and shuffled cells, and classes too small for a variance."""

from __future__ import annotations

import numpy as np
import pytest

from gates.metrics_guards import loss_sums, studentized_samples
from gates.metrics_intervals import point_and_samples
from gates.readers.predictions import Predictions
from gates.stats import metrics as m
from gates.stats import studentized as st
from gates.stats.bootstrap import Cells, binary_cells, coarsen


def _cells(seed: int, n: int, decimals: int | None, prevalence: float = 0.3) -> Cells:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    score = 1 / (1 + np.exp(-rng.normal(-0.5 + 1.5 * y, 1.0)))
    if decimals is not None:
        score = np.round(score, decimals)  # ties: several cells per level
    return binary_cells(y, score >= 0.5, score)


def _shuffled(cells: Cells, seed: int) -> Cells:
    order = np.random.default_rng(seed).permutation(cells.size)
    return Cells(columns={k: v[order] for k, v in cells.columns.items()}, counts=cells.counts[order])


def _separate(cells: Cells) -> tuple[float, float, float, float]:
    """The unshared computations: ranking_metrics' multi-row path (two identical rows, so not the point
    path), and studentized.auc_point."""
    weights = np.vstack([cells.counts, cells.counts])
    ranked = m.ranking_metrics(weights, cells.columns["y"] != 0, cells.columns["score"])
    auc, variance = st.auc_point(cells)
    return float(ranked["roc_auc"][0]), float(ranked["average_precision"][0]), auc, variance


@pytest.mark.parametrize("decimals", [None, 1, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ranking_point_equals_the_separate_computations(decimals, shuffle, monkeypatch):
    monkeypatch.setattr(m, "LEVEL_BLOCK", 64)  # many blocks: the running offsets between blocks count
    cells = _cells(3, 5000, decimals)
    if shuffle:
        cells = _shuffled(cells, 4)
    shared = m.ranking_point(cells.counts, cells.columns["y"], cells.columns["score"])
    roc, ap, auc, variance = _separate(cells)
    assert shared["roc_auc"] == pytest.approx(roc, rel=1e-12)
    assert shared["roc_auc"] == pytest.approx(auc, rel=1e-12)
    assert shared["average_precision"] == pytest.approx(ap, rel=1e-12)
    assert shared["roc_auc_variance"] == pytest.approx(variance, rel=1e-12)
    without = m.ranking_point(cells.counts, cells.columns["y"], cells.columns["score"], variance=False)
    assert without == {k: shared[k] for k in ("roc_auc", "average_precision")}


@pytest.mark.parametrize("positives", [0, 1, 2])
def test_ranking_point_variance_is_undefined_below_two_rows_of_a_class(positives):
    rng = np.random.default_rng(positives)
    y = np.zeros(50, dtype=bool)
    y[:positives] = True
    score = rng.random(50)
    cells = binary_cells(y, score >= 0.5, score)
    shared = m.ranking_point(cells.counts, cells.columns["y"], cells.columns["score"])
    _, variance = st.auc_point(cells)
    assert np.isnan(shared["roc_auc_variance"]) == np.isnan(variance)
    if positives == 2:
        assert shared["roc_auc_variance"] == pytest.approx(variance, rel=1e-12)
    empty = m.ranking_point(np.zeros(0), np.zeros(0, bool), np.zeros(0))
    assert all(np.isnan(v) for v in empty.values())


@pytest.mark.parametrize("exact", [False, True])
def test_studentized_samples_with_the_shared_auc_equal_the_unshared_ones(exact, monkeypatch):
    """The studentized AUC samples from the shared centre and variance equal those of auc_point, on exact
    cells and on cells coarsened for the resamples."""
    monkeypatch.setattr(m, "LEVEL_BLOCK", 256)
    cells = _cells(7, 4000, None, prevalence=0.1)
    losses = m.binary_losses(cells.columns["y"], cells.columns["score"])
    coarse = None if exact else coarsen(cells, sums=loss_sums(losses), bins=64)[0]
    if not exact:
        monkeypatch.setattr("gates.metrics_guards.EXACT_CELLS", 100)
    shared = m.ranking_point(cells.counts, cells.columns["y"], cells.columns["score"])
    auc = (shared["roc_auc"], shared["roc_auc_variance"])
    with_shared = studentized_samples(cells, 300, 5, losses, coarse, auc)
    unshared = studentized_samples(cells, 300, 5, losses, coarse)
    assert with_shared.keys() == unshared.keys() and "c:roc_auc" in unshared
    for key, values in unshared.items():
        np.testing.assert_allclose(with_shared[key], values, rtol=1e-12, atol=0)


def test_gate_point_and_samples_equal_the_unshared_path(monkeypatch):
    """point_and_samples end to end: with the sharing switched off (ranking_point not handed on), every point
    value and every sample agrees to 1e-12."""
    rng = np.random.default_rng(11)
    n = 20_000
    y = (rng.random(n) < 0.25).astype(np.int8)
    score = 1 / (1 + np.exp(-rng.normal(-1 + 2 * y, 1.2)))
    p = Predictions(path=None, task="binary", y=y, pred=(score >= 0.5).astype(np.int8), score=score,
                    classes=[0, 1])  # fmt: skip
    point, samples, _ = point_and_samples(p, None, 200, seed=3)
    original = m.binary

    def unshared(weights, y, pred, score, losses=None, ranking=None):
        return original(weights, y, pred, score, losses)

    monkeypatch.setattr(m, "binary", unshared)
    real = m.ranking_point

    def no_sharing(counts, positive, score, variance=True):  # ranking_metrics' own point call still works
        return None if variance else real(counts, positive, score, variance=False)

    monkeypatch.setattr(m, "ranking_point", no_sharing)  # nothing shared with the studentized AUC
    point_b, samples_b, _ = point_and_samples(p, None, 200, seed=3)
    assert point.keys() == point_b.keys() and samples.keys() == samples_b.keys()
    for key, value in point_b.items():
        assert point[key] == pytest.approx(value, rel=1e-12, nan_ok=True)
    for key, values in samples_b.items():
        np.testing.assert_allclose(samples[key], values, rtol=1e-12, atol=1e-15)
