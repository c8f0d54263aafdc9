"""ROC, precision-recall and calibration points from exact cells match scikit-learn on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.stats.bootstrap import binary_cells
from gates.stats.curves import calibration, report_curves, roc_pr

metrics = pytest.importorskip("sklearn.metrics")
sk_calibration = pytest.importorskip("sklearn.calibration")


def rows(seed: int, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + rng.normal(0.3, 0.25, n), 0, 1)
    if ties:
        score = np.round(score, 1)  # many rows share a score: cells merge them
    return y, (score >= 0.5).astype(int), score


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 400), st.booleans())
def test_roc_auc_and_curve_match_scikit_learn(seed, n, ties):
    y, pred, score = rows(seed, n, ties)
    curve = roc_pr(binary_cells(y, pred, score), limit=10_000)
    if y.min() == y.max():
        assert curve is None  # one class: no curve, never a made-up one
        return
    assert curve["auc"] == pytest.approx(metrics.roc_auc_score(y, score), abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(y, score, drop_intermediate=False)
    assert np.allclose(curve["fpr"], fpr, atol=1e-5) and np.allclose(curve["tpr"], tpr, atol=1e-5)
    precision, recall, _ = metrics.precision_recall_curve(y, score)
    # scikit-learn lists points from the lowest threshold up and ends with (recall 0, precision 1)
    assert np.allclose(curve["precision"][1:], precision[::-1][1:], atol=1e-5)
    assert np.allclose(curve["tpr"][1:], recall[::-1][1:], atol=1e-5)  # recall is the true positive rate
    assert curve["base_rate"] == pytest.approx(y.mean())


def test_curves_are_thinned_keeping_both_ends():
    y, pred, score = rows(1, 50_000, ties=False)
    curve = roc_pr(binary_cells(y, pred, score), limit=200)
    assert len(curve["fpr"]) <= 200
    assert curve["fpr"][0] == 0 and curve["tpr"][0] == 0 and curve["fpr"][-1] == 1 and curve["tpr"][-1] == 1
    assert curve["auc"] == pytest.approx(metrics.roc_auc_score(y, score), abs=1e-12)  # from every point


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(50, 2000))
def test_calibration_matches_scikit_learn_uniform_bins(seed, n):
    y, pred, score = rows(seed, n, ties=False)
    bins = calibration(binary_cells(y, pred, score), bins=10)
    if y.min() == y.max():
        assert bins is None
        return
    observed, predicted = sk_calibration.calibration_curve(y, score, n_bins=10, strategy="uniform")
    assert np.allclose([b["observed"] for b in bins], observed, atol=1e-6)
    assert np.allclose([b["predicted"] for b in bins], predicted, atol=1e-6)
    assert sum(b["rows"] for b in bins) == n
    assert all(b["ci"][0] <= b["observed"] <= b["ci"][1] for b in bins)


def test_calibration_needs_probabilities_and_report_curves_skip_one_class():
    y, pred, score = rows(3, 300, ties=False)
    assert calibration(binary_cells(y, pred, score * 5)) is None  # scores beyond [0, 1] are not probabilities
    one_class = binary_cells(np.zeros(20, int), np.zeros(20, int), np.linspace(0, 1, 20))
    both = binary_cells(y, pred, score)
    assert set(report_curves({"candidate": both, "baseline": one_class})) == {"candidate"}
