"""ROC, precision-recall and calibration points of a binary scorer, from its exact cells.

The reports draw these curves; the metrics gate computes them here (pure math on the cells of
gates.stats.bootstrap.binary_cells: distinct scores with their label counts) so that the formats only draw
numbers they are given. Curves are thinned to a few hundred points: they cost the same at ten million rows as at
ten thousand, and the JSON report stays small.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gates.stats.intervals import wilson

CURVE_POINTS = 120  # points kept per curve in the report (first and last always kept)
CALIBRATION_BINS = 10


def _ranked(cells: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Cumulative true and false positives at each distinct score, highest score first, and those scores;
    None unless both classes are present."""
    score = np.asarray(cells.columns["score"], dtype=np.float64)
    positive = np.asarray(cells.columns["y"]).astype(bool)
    counts = np.asarray(cells.counts, dtype=np.float64)
    if score.size == 0:
        return None
    # binary_cells come sorted by score (without groups): their reversed views are the descending order, with
    # no sort of ten million scores; within a tie only the order of exact integer additions changes
    if bool(np.all(score[1:] >= score[:-1])):
        s, positive, w = score[::-1], positive[::-1], counts[::-1]
    else:
        order = np.argsort(-score, kind="stable")
        s, positive, w = score[order], positive[order], counts[order]
    hits = np.where(positive, w, 0.0)
    change = s[1:] != s[:-1]
    if change.all():  # every score distinct (continuous scores): one cell per level, nothing to sum
        tp, seen, levels = np.cumsum(hits), np.cumsum(w), s
    else:
        starts = np.flatnonzero(np.concatenate(([True], change)))
        tp = np.cumsum(np.add.reduceat(hits, starts))
        seen, levels = np.cumsum(np.add.reduceat(w, starts)), s[starts]
    fp = np.subtract(seen, tp, out=seen)  # in place: at 1e7 levels each fresh buffer is 80 MB of new pages
    if tp[-1] == 0 or fp[-1] == 0:
        return None
    return tp, fp, levels


def roc_pr(cells: Any, limit: int = CURVE_POINTS) -> dict[str, Any] | None:
    """ROC (fpr, tpr and the trapezoid AUC over every distinct score) and precision-recall points, thresholds from
    the highest score down as scikit-learn's roc_curve and precision_recall_curve; None with one class only."""
    ranked = _ranked(cells)
    if ranked is None:
        return None
    tp, fp, _ = ranked
    tpr, fpr = _rates(tp), _rates(fp)
    width = np.diff(fpr)  # the trapezoids' area, the same operations on fewer fresh buffers
    np.multiply(width, np.add(tpr[1:], tpr[:-1]), out=width)
    auc = float(np.sum(np.divide(width, 2, out=width)))
    del width
    keep = np.arange(tpr.size)
    if tpr.size > limit:  # keep the first and last points and an even spread in between
        keep = np.unique(np.linspace(0, tpr.size - 1, limit).round().astype(np.int64))
        tpr, fpr = tpr[keep], fpr[keep]
    at = keep[1:] - 1  # precision only where it is kept (keep starts at 0): 1, then TP / (TP + FP)
    precision = np.concatenate(([1.0], tp[at] / (tp[at] + fp[at])))
    return {
        "fpr": _rounded(fpr),
        "tpr": _rounded(tpr),
        "precision": _rounded(precision),
        "auc": auc,
        "base_rate": float(tp[-1] / (tp[-1] + fp[-1])),
    }


def _rates(cumulative: np.ndarray) -> np.ndarray:
    """0, then each cumulative count over the last (a true or false positive rate per threshold)."""
    out = np.empty(cumulative.size + 1)
    out[0] = 0.0
    np.divide(cumulative, cumulative[-1], out=out[1:])
    return out


def calibration(
    cells: Any, bins: int = CALIBRATION_BINS, confidence: float = 0.95
) -> list[dict[str, Any]] | None:
    """Reliability points: per equal-width score bin on [0, 1], the mean score, the observed share of positives
    with its Wilson interval, and the rows. None when scores leave [0, 1] (not probabilities) or one class only."""
    score = np.asarray(cells.columns["score"], dtype=np.float64)
    positive = np.asarray(cells.columns["y"]).astype(bool)
    counts = np.asarray(cells.counts, dtype=np.float64)
    if score.size == 0 or not np.all(np.isfinite(score)) or score.min() < 0 or score.max() > 1:
        return None
    if not positive.any() or positive.all():
        return None
    index = np.minimum((score * bins).astype(np.int64), bins - 1)
    rows = np.bincount(index, weights=counts, minlength=bins)
    hits = np.bincount(index, weights=np.where(positive, counts, 0.0), minlength=bins)
    scored = np.bincount(index, weights=score * counts, minlength=bins)
    filled = rows > 0
    low, high = wilson(hits[filled], rows[filled], confidence)
    out = []
    for k, lo, hi in zip(np.flatnonzero(filled), low, high):
        out.append(
            {
                "bin": [k / bins, (k + 1) / bins],
                "predicted": round(float(scored[k] / rows[k]), 6),
                "observed": round(float(hits[k] / rows[k]), 6),
                "ci": [round(float(lo), 6), round(float(hi), 6)],
                "rows": float(rows[k]),
            }
        )
    return out


def report_curves(cells_by_model: dict[str, Any]) -> dict[str, Any]:
    """{model: {"roc": ..., "calibration": ...}} for every model whose curves exist (both classes present)."""
    out: dict[str, Any] = {}
    for model, cells in cells_by_model.items():
        roc = roc_pr(cells)
        if roc is None:
            continue
        out[model] = {"roc": roc, "calibration": calibration(cells)}
    return out


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values]
