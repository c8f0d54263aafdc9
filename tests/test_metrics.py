"""Every metric against scikit-learn on generated data: binary, multiclass, regression, with tied scores.

Two paths: the point value (cell counts as weights) against scikit-learn on the rows, and arbitrary
per-cell weights against scikit-learn on the cells with those weights as `sample_weight` (the path every
bootstrap resample takes).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.preprocessing import label_binarize

from gates.stats import metrics as m
from gates.stats.bootstrap import compress


def binary_data(n: int, seed: int, tie_decimals: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.round(np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1), tie_decimals)  # many tied scores
    score[:3] = [0.0, 1.0, 0.5]  # the edges: log loss clipping, the decision threshold itself
    pred = (score >= 0.5).astype(int)
    return y, pred, score


def sklearn_binary(y, pred, score, w=None):
    return {
        "accuracy": sk.accuracy_score(y, pred, sample_weight=w),
        "balanced_accuracy": sk.balanced_accuracy_score(y, pred, sample_weight=w),
        "precision": sk.precision_score(y, pred, average="binary", sample_weight=w),
        "recall": sk.recall_score(y, pred, average="binary", sample_weight=w),
        "f1": sk.f1_score(y, pred, average="binary", sample_weight=w),
        "roc_auc": sk.roc_auc_score(y, score, sample_weight=w),
        "average_precision": sk.average_precision_score(y, score, sample_weight=w),
        "log_loss": sk.log_loss(y, score, sample_weight=w, labels=[0, 1]),
        "brier": sk.brier_score_loss(y, score, sample_weight=w),
    }


def multiclass_data(n: int, seed: int, classes: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), y] += 1.2
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    proba = np.round(proba, 1)  # coarse: many ties per class column
    proba[:, -1] = np.clip(1 - proba[:, :-1].sum(axis=1), 0, None)
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    return y, pred, proba


def sklearn_multiclass(y, pred, proba, classes, w=None):
    labels = list(range(classes))
    return {
        "accuracy": sk.accuracy_score(y, pred, sample_weight=w),
        "balanced_accuracy": sk.balanced_accuracy_score(y, pred, sample_weight=w),
        "precision_macro": sk.precision_score(
            y, pred, labels=labels, average="macro", sample_weight=w, zero_division=0
        ),
        "recall_macro": sk.recall_score(
            y, pred, labels=labels, average="macro", sample_weight=w, zero_division=0
        ),
        "f1_macro": sk.f1_score(y, pred, labels=labels, average="macro", sample_weight=w, zero_division=0),
        "precision_weighted": sk.precision_score(
            y, pred, labels=labels, average="weighted", sample_weight=w, zero_division=0
        ),
        "recall_weighted": sk.recall_score(
            y, pred, labels=labels, average="weighted", sample_weight=w, zero_division=0
        ),
        "f1_weighted": sk.f1_score(
            y, pred, labels=labels, average="weighted", sample_weight=w, zero_division=0
        ),
        "roc_auc": sk.roc_auc_score(
            y, proba, multi_class="ovr", average="macro", labels=labels, sample_weight=w
        ),
        # one-vs-rest macro average precision, as scikit-learn computes it on the binarised labels
        "average_precision": sk.average_precision_score(
            label_binarize(y, classes=labels), proba, average="macro", sample_weight=w
        ),
        "log_loss": sk.log_loss(y, proba, labels=labels, sample_weight=w),
        "brier": sk.brier_score_loss(y, proba, labels=labels, sample_weight=w),
    }


def regression_data(n: int, seed: int, offset: float = 10.0, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    y = offset + scale * rng.normal(size=n)
    pred = np.round(y + rng.normal(0, scale / 2, n), 1)
    y = np.round(y, 1)  # repeated values, so cells hold several rows
    y[y == 0] = 0.1
    return y, pred


def sklearn_regression(y, pred, w=None):
    return {
        "rmse": sk.root_mean_squared_error(y, pred, sample_weight=w),
        "mae": sk.mean_absolute_error(y, pred, sample_weight=w),
        "r2": sk.r2_score(y, pred, sample_weight=w),
        "mape": sk.mean_absolute_percentage_error(y, pred, sample_weight=w),
    }


def point(out: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v[0]) for k, v in out.items()}


def assert_same(ours: dict[str, float], reference: dict[str, float], names) -> None:
    assert set(names) <= set(ours)
    for name in names:
        assert ours[name] == pytest.approx(reference[name], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_point_values_equal_sklearn(seed):
    y, pred, score = binary_data(700, seed)
    cells = compress({"y": y, "pred": pred, "score": score})
    assert cells.size < 700  # ties really were compressed
    c = cells.columns
    ours = point(m.binary(cells.counts[None, :], c["y"], c["pred"], c["score"]))
    assert_same(ours, sklearn_binary(y, pred, score), m.BINARY_METRICS)


def test_binary_all_tied_scores():
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    score = np.full(8, 0.4)
    cells = compress({"y": y, "pred": np.zeros(8), "score": score})
    c = cells.columns
    ours = point(m.binary(cells.counts[None, :], c["y"], c["pred"], c["score"]))
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(y, score)) == 0.5
    assert ours["average_precision"] == pytest.approx(sk.average_precision_score(y, score))


@pytest.mark.parametrize("seed", [3, 4])
def test_binary_weighted_cells_equal_sklearn_sample_weight(seed):
    y, pred, score = binary_data(600, seed)
    cells = compress({"y": y, "pred": pred, "score": score})
    c = cells.columns
    weights = np.random.default_rng(seed).integers(0, 5, size=(3, cells.size)).astype(float)
    weights[2] = np.random.default_rng(seed + 10).random(cells.size) * 3  # fractional weights too
    ours = m.binary(weights, c["y"], c["pred"], c["score"])
    for b in range(weights.shape[0]):
        reference = sklearn_binary(c["y"].astype(int), c["pred"].astype(int), c["score"], weights[b])
        assert_same({k: float(v[b]) for k, v in ours.items()}, reference, m.BINARY_METRICS)


@pytest.mark.parametrize(("seed", "classes"), [(0, 3), (1, 4), (2, 5)])
def test_multiclass_point_values_equal_sklearn(seed, classes):
    y, pred, proba = multiclass_data(800, seed, classes)
    cells = compress({"y": y, "pred": pred, "score": proba})
    c = cells.columns
    ours = point(m.multiclass(cells.counts[None, :], c["y"], c["pred"], c["score"], classes))
    assert_same(ours, sklearn_multiclass(y, pred, proba, classes), m.MULTICLASS_METRICS)


def test_multiclass_weighted_cells_equal_sklearn_sample_weight():
    classes = 3
    y, pred, proba = multiclass_data(500, 7, classes)
    cells = compress({"y": y, "pred": pred, "score": proba})
    c = cells.columns
    weights = np.random.default_rng(8).integers(1, 6, size=(2, cells.size)).astype(float)
    ours = m.multiclass(weights, c["y"], c["pred"], c["score"], classes)
    for b in range(2):
        reference = sklearn_multiclass(
            c["y"].astype(int), c["pred"].astype(int), c["score"], classes, weights[b]
        )
        assert_same({k: float(v[b]) for k, v in ours.items()}, reference, m.MULTICLASS_METRICS)


def test_multiclass_class_never_predicted_counts_as_zero_like_sklearn():
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    pred = np.array([0, 1, 1, 1, 1, 0, 1])  # class 2 is never predicted
    cells = compress({"y": y, "pred": pred})
    c = cells.columns
    ours = point(m.multiclass(cells.counts[None, :], c["y"], c["pred"], None, 3))
    reference = sklearn_multiclass(y, pred, np.eye(3)[pred], 3)
    assert_same(
        ours,
        reference,
        (
            "accuracy",
            "balanced_accuracy",
            "precision_macro",
            "recall_macro",
            "f1_macro",
            "precision_weighted",
            "recall_weighted",
            "f1_weighted",
        ),
    )


def test_multiclass_declared_class_without_rows_makes_the_weighted_averages_ignore_it_like_sklearn():
    y = np.array([0, 1, 0, 1, 1, 0])
    pred = np.array([0, 1, 2, 1, 0, 0])  # class 2 is predicted but has no rows: support 0, weight 0
    cells = compress({"y": y, "pred": pred})
    c = cells.columns
    ours = point(m.multiclass(cells.counts[None, :], c["y"], c["pred"], None, 3))
    reference = {
        f"{name}_{average}": score(y, pred, labels=[0, 1, 2], average=average, zero_division=0)
        for name, score in (
            ("precision", sk.precision_score),
            ("recall", sk.recall_score),
            ("f1", sk.f1_score),
        )
        for average in ("macro", "weighted")
    }
    assert_same(ours, reference, list(reference))
    proba = np.full((6, 3), 1 / 3)
    out = point(m.multiclass(np.ones((1, 6)), y, pred, proba, 3))
    assert np.isnan(out["roc_auc"]) and np.isnan(
        out["average_precision"]
    )  # one-vs-rest undefined for class 2


@pytest.mark.parametrize(("seed", "offset", "scale"), [(0, 10.0, 3.0), (1, -50.0, 20.0), (2, 1e6, 1.0)])
def test_regression_point_values_equal_sklearn(seed, offset, scale):
    y, pred = regression_data(900, seed, offset, scale)
    cells = compress({"y": y, "pred": pred})
    c = cells.columns
    ours = point(m.regression(cells.counts[None, :], c["y"], c["pred"]))
    assert_same(ours, sklearn_regression(y, pred), m.REGRESSION_METRICS)


def test_regression_weighted_cells_equal_sklearn_sample_weight():
    y, pred = regression_data(400, 5)
    cells = compress({"y": y, "pred": pred})
    c = cells.columns
    weights = np.random.default_rng(6).integers(0, 4, size=(3, cells.size)).astype(float)
    ours = m.regression(weights, c["y"], c["pred"])
    for b in range(3):
        assert_same(
            {k: float(v[b]) for k, v in ours.items()},
            sklearn_regression(c["y"], c["pred"], weights[b]),
            m.REGRESSION_METRICS,
        )


def test_regression_labels_on_a_tiny_scale_are_not_mistaken_for_constant():
    rng = np.random.default_rng(9)
    y = rng.normal(0, 1e-8, 300)
    pred = y + rng.normal(0, 5e-9, 300)
    cells = compress({"y": y, "pred": pred})
    ours = point(m.regression(cells.counts[None, :], cells.columns["y"], cells.columns["pred"]))
    assert ours["r2"] == pytest.approx(sk.r2_score(y, pred), rel=1e-9)


def test_undefined_metrics_are_nan_never_a_number():
    # one class in the labels: ROC AUC, average precision and recall have no meaning
    y, score = np.zeros(6), np.linspace(0.1, 0.9, 6)
    cells = compress({"y": y, "pred": (score >= 0.5), "score": score})
    c = cells.columns
    out = point(m.binary(cells.counts[None, :], c["y"], c["pred"], c["score"]))
    assert np.isnan(out["roc_auc"]) and np.isnan(out["average_precision"]) and np.isnan(out["recall"])
    assert out["accuracy"] == 0.5
    # no positive predictions: precision is undefined
    cells = compress({"y": np.array([0, 1, 1]), "pred": np.zeros(3), "score": np.array([0.1, 0.2, 0.3])})
    c = cells.columns
    assert np.isnan(point(m.binary(cells.counts[None, :], c["y"], c["pred"], c["score"]))["precision"])
    # constant labels: R2; a zero label: MAPE
    cells = compress({"y": np.full(5, 0.1), "pred": np.linspace(0, 1, 5)})
    out = point(m.regression(cells.counts[None, :], cells.columns["y"], cells.columns["pred"]))
    assert np.isnan(out["r2"]) and np.isfinite(out["rmse"])
    cells = compress({"y": np.array([0.0, 1.0, 2.0]), "pred": np.array([0.5, 1.0, 2.5])})
    out = point(m.regression(cells.counts[None, :], cells.columns["y"], cells.columns["pred"]))
    assert np.isnan(out["mape"]) and np.isfinite(out["r2"])


def test_metric_directions_cover_every_metric():
    every = set(m.BINARY_METRICS) | set(m.MULTICLASS_METRICS) | set(m.REGRESSION_METRICS)
    assert every == m.HIGHER_IS_BETTER | m.LOWER_IS_BETTER
    assert not m.HIGHER_IS_BETTER & m.LOWER_IS_BETTER
