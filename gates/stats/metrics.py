"""Model metrics as functions of per-cell weights (see gates.stats.bootstrap), vectorised over bootstrap resamples.

Every function takes weights of shape (b, K) and returns {metric: (b,) array}. With the cell counts as the
single row of weights, the values equal scikit-learn's (tests/test_metrics.py checks each one); an
undefined value (ROC AUC with one class, precision with no positive predictions) is NaN, which the gate
turns into an explicit error, never a silent 0.
"""

from __future__ import annotations

import itertools

import numpy as np

from gates.stats.bootstrap import safe_divide

HIGHER_IS_BETTER = {
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "average_precision",
    "r2",
}
LOWER_IS_BETTER = {"log_loss", "brier", "rmse", "mae", "mape"}
BINARY_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
)
MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
)
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
_EPS = np.finfo(np.float64).eps


def _levels(score: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """The order that sorts the cells by score (None when they already are) and where each level starts."""
    score = np.asarray(score)
    order = (
        None if score.size < 2 or bool(np.all(score[1:] >= score[:-1])) else np.argsort(score, kind="stable")
    )
    ordered = score if order is None else score[order]
    starts = (
        np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        if ordered.size
        else np.zeros(0, dtype=np.int64)
    )
    return order, starts


def ranking_metrics(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """ROC AUC (ties count one half) and average precision (step-wise, as scikit-learn) from score levels.

    Cells sorted by score (as gates.stats.bootstrap.binary_cells and coarsen leave them) need no sort at all; others
    are sorted once (a stable sort, linear on a few sorted runs). Per level the positive and negative weights
    are summed with np.add.reduceat, so the cost is O(b K) for b resamples of K cells.
    """
    if weights.shape[0] == 1:  # the point value: one row of weights, often one cell per row of data
        point = ranking_point(weights[0], positive, score, variance=False)
        return {k: np.array([v]) for k, v in point.items()}
    order, starts = _levels(score)
    positive = np.asarray(positive, dtype=bool)
    w = weights if order is None else weights[:, order]
    is_pos = positive if order is None else positive[order]
    if starts.size == 0:
        nan = np.full(weights.shape[0], np.nan)
        return {"roc_auc": nan, "average_precision": nan.copy()}
    pos = np.add.reduceat(w * is_pos, starts, axis=1)  # (b, L), levels in ascending score order
    neg = np.add.reduceat(w * ~is_pos, starts, axis=1)
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    auc = safe_divide((pos * (neg_below + 0.5 * neg)).sum(axis=1), total_pos * total_neg)
    # Average precision walks thresholds from the highest score down.
    tp = np.cumsum(pos[:, ::-1], axis=1)
    fp = np.cumsum(neg[:, ::-1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
    ap = safe_divide((pos[:, ::-1] * precision).sum(axis=1), total_pos)
    return {"roc_auc": auc, "average_precision": ap}


LEVEL_BLOCK = 1 << 18  # levels summed at a time for a one-row point value (bounded temporaries)


def ranking_point(
    counts: np.ndarray, positive: np.ndarray, score: np.ndarray, variance: bool = True
) -> dict[str, float]:
    """ROC AUC, average precision and (with `variance`) DeLong's variance of the AUC ("roc_auc_variance",
    NaN with fewer than two rows of a class) for one row of weights, a block of levels at a time: ten
    million distinct scores cost a few megabytes of temporaries, not a gigabyte.

    The point ranking metrics and the studentized interval's centre and standard error
    (gates.stats.studentized) both walk the score levels of the exact cells; at 1e7 cells each walk cost
    about a second, so the gate walks them once here. The placements are delong_levels' to the bit (sums of
    whole counts and halves, exact in float64, over the same divisors); their squared deviations from the AUC
    are summed per block and combined, so the variance agrees with delong_levels' to rounding (~1e-15).
    """
    order, starts = _levels(score)
    positive = np.asarray(positive, dtype=bool)
    w = counts if order is None else counts[order]
    is_pos = positive if order is None else positive[order]
    if starts.size == 0:
        empty = {"roc_auc": np.nan, "average_precision": np.nan, "roc_auc_variance": np.nan}
        return empty if variance else {k: empty[k] for k in ("roc_auc", "average_precision")}
    n_levels = starts.size
    bounds = list(range(0, n_levels, LEVEL_BLOCK)) + [n_levels]
    blocks = []  # per block: positive and all weight per level
    for a, b in itertools.pairwise(bounds):
        first, last = int(starts[a]), int(starts[b]) if b < n_levels else w.size
        if b - a == last - first:  # one cell per level (continuous scores): nothing to sum
            blocks.append((np.where(is_pos[first:last], w[first:last], 0.0), w[first:last]))
            continue
        local = starts[a:b] - first
        pos = np.add.reduceat(np.where(is_pos[first:last], w[first:last], 0.0), local)
        blocks.append((pos, np.add.reduceat(w[first:last], local)))
    p_sum = float(sum(float(p.sum()) for p, _ in blocks))
    n_sum = float(sum(float(t.sum()) for _, t in blocks)) - p_sum
    # With `variance`, each block's DeLong placements are summarised while the block is at hand (weight,
    # weighted mean, sum of squared deviations): keeping ten million placements for a second pass cost more
    # in fresh memory than the arithmetic. Per positive V10 = (negatives below + half those at its level) / n,
    # per negative V01 = (positives above + half those at its level) / m (gates.stats.studentized).
    spread10: list[tuple[float, float, float]] = []
    spread01: list[tuple[float, float, float]] = []
    defined = variance and p_sum >= 2 and n_sum >= 2  # DeLong needs two rows of each class
    concordant, neg_before = 0.0, 0.0  # negatives at lower levels count 1, at the same level one half
    for pos, total in blocks:
        neg = total - pos
        below = np.cumsum(neg)
        below += neg_before - 0.5 * neg
        concordant += float(np.dot(pos, below))
        neg_before += float(neg.sum())
        if defined:
            spread10.append(_spread(np.divide(below, n_sum, out=below), pos))
    auc = concordant / (p_sum * n_sum) if p_sum * n_sum else np.nan
    # Average precision, thresholds from the highest score down: precision = TP / (TP + FP) at each level.
    ap_sum, tp_before, seen_before = 0.0, 0.0, 0.0
    for pos, total in reversed(blocks):
        pos, total = pos[::-1], total[::-1]
        tp = np.cumsum(pos) + tp_before
        if defined:
            above = tp - 0.5 * pos
            spread01.append(_spread(np.divide(above, p_sum, out=above), total - pos))
        seen = np.cumsum(total) + seen_before
        np.divide(tp, seen, out=tp, where=seen > 0)
        ap_sum += float(np.dot(pos, tp))
        tp_before += float(pos.sum())
        seen_before += float(total.sum())
    ap = ap_sum / p_sum if p_sum else np.nan
    out = {"roc_auc": auc, "average_precision": ap}
    if variance:
        out["roc_auc_variance"] = (
            _deviations(spread10, auc) / (p_sum - 1) / p_sum
            + _deviations(spread01, auc) / (n_sum - 1) / n_sum
            if defined
            else np.nan
        )
    return out


def _spread(values: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """(total weight, weighted mean, weighted sum of squared deviations from it) of a block; `values` is
    overwritten."""
    weight = float(weights.sum())
    if weight == 0:
        return 0.0, 0.0, 0.0
    mean = float(np.dot(weights, values)) / weight
    values -= mean
    np.square(values, out=values)
    return weight, mean, float(np.dot(weights, values))


def _deviations(blocks: list[tuple[float, float, float]], centre: float) -> float:
    """Weighted sum of squared deviations from `centre` of all blocks together, from each block's summary
    (Chan, Golub and LeVeque's pairwise combination; stable where sum(w x^2) - W mean^2 would cancel)."""
    weight = sum(w for w, _, _ in blocks)
    mean = sum(w * c for w, c, _ in blocks) / weight
    within = sum(d for _, _, d in blocks) + sum(w * (c - mean) ** 2 for w, c, _ in blocks)
    return within + weight * (mean - centre) ** 2


def binary_losses(y: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """Per-cell log loss (probabilities clipped to [eps, 1 - eps], as scikit-learn) and squared error."""
    y = np.asarray(y).astype(bool)
    p = np.clip(score, _EPS, 1 - _EPS)
    np.subtract(1.0, p, out=p, where=~y)  # the probability given to the true class
    loss = np.log(p, out=p)  # in place: at 1e7 cells every fresh buffer is 80 MB of new pages
    np.negative(loss, out=loss)
    brier = score - y
    np.multiply(brier, brier, out=brier)
    return {"log_loss": loss, "brier": brier}


def binary(
    weights: np.ndarray,
    y: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray | None,
    losses: dict[str, np.ndarray] | None = None,
    ranking: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Binary classification metrics; y and pred are 0/1 per cell, score the positive-class probability.

    `losses` gives each cell's mean log loss and squared error when the cells are coarse (score bins, see
    gates.stats.bootstrap.coarsen): the score is then a bin number, good for ranking but not for losses.
    `ranking` is ranking_point() of the one row of weights when the caller has it already (the gate shares
    it with the studentized interval of ROC AUC), so the score levels are not walked twice.
    """
    y = y.astype(bool)
    pred = pred.astype(bool)
    if weights.shape[0] == 1:  # one row: sums without a float copy of each mask
        w = weights[0]
        tp, fp, fn, tn = (
            np.array([np.sum(w, where=mask)]) for mask in (y & pred, ~y & pred, y & ~pred, ~y & ~pred)
        )
    else:
        tp = weights @ (y & pred)
        fp = weights @ (~y & pred)
        fn = weights @ (y & ~pred)
        tn = weights @ (~y & ~pred)
    n = tp + fp + fn + tn
    recall = safe_divide(tp, tp + fn)
    specificity = safe_divide(tn, tn + fp)
    out = {
        "accuracy": safe_divide(tp + tn, n),
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": safe_divide(tp, tp + fp),
        "recall": recall,
        "f1": safe_divide(2 * tp, 2 * tp + fp + fn),
    }
    if score is not None:
        if ranking is not None and weights.shape[0] == 1:
            out.update({k: np.array([ranking[k]]) for k in ("roc_auc", "average_precision")})
        else:
            out.update(ranking_metrics(weights, y, score))
        per_cell = losses if losses is not None else binary_losses(y, score)
        out["log_loss"] = safe_divide(weights @ per_cell["log_loss"], n)
        out["brier"] = safe_divide(weights @ per_cell["brier"], n)
        del per_cell
    return out


def multiclass(
    weights: np.ndarray, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, n_classes: int
) -> dict[str, np.ndarray]:
    """Multiclass metrics over the declared classes (codes 0..C-1); macro averages weigh classes equally,
    weighted ones by each class's (resampled) support, as scikit-learn's average='macro' / 'weighted'.

    ROC AUC and average precision are one-vs-rest macro averages over the class probability columns: NaN
    (undefined) when a declared class has no rows, where scikit-learn would raise or warn."""
    y = y.astype(np.int64)
    pred = pred.astype(np.int64)
    classes = np.arange(n_classes)
    truth = (y[:, None] == classes).astype(np.float64)  # (K, C)
    guess = (pred[:, None] == classes).astype(np.float64)
    support = weights @ truth  # (b, C)
    predicted = weights @ guess
    hits = weights @ (truth * guess)
    n = support.sum(axis=1)
    recall_c = safe_divide(hits, support)
    precision_c = np.nan_to_num(safe_divide(hits, predicted), nan=0.0)  # scikit-learn's zero_division=0
    f1_c = np.nan_to_num(safe_divide(2 * hits, support + predicted), nan=0.0)
    present = support > 0
    out = {
        "accuracy": safe_divide(hits.sum(axis=1), n),
        "balanced_accuracy": safe_divide(
            np.where(present, np.nan_to_num(recall_c), 0).sum(axis=1), present.sum(axis=1)
        ),
        "precision_macro": precision_c.mean(axis=1),
        "recall_macro": np.nan_to_num(recall_c, nan=0.0).mean(axis=1),
        "f1_macro": f1_c.mean(axis=1),
        "precision_weighted": safe_divide((precision_c * support).sum(axis=1), n),
        "recall_weighted": safe_divide((np.nan_to_num(recall_c, nan=0.0) * support).sum(axis=1), n),
        "f1_weighted": safe_divide((f1_c * support).sum(axis=1), n),
    }
    if proba is not None:
        per_class = [ranking_metrics(weights, y == c, proba[:, c]) for c in classes]
        for name in ("roc_auc", "average_precision"):  # one-vs-rest, macro; NaN if any class is absent
            out[name] = np.mean([r[name] for r in per_class], axis=0)
        picked = np.clip(proba[np.arange(y.size), y], _EPS, 1)
        out["log_loss"] = safe_divide(weights @ -np.log(picked), n)
        out["brier"] = safe_divide(weights @ ((proba - truth) ** 2).sum(axis=1), n)
    return out


def regression(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """RMSE, MAE, R2 (undefined for constant labels) and MAPE (undefined when a label is 0)."""
    n = weights.sum(axis=1)
    error = pred - y
    # The total sum of squares is shift-invariant: centring first keeps labels with a large offset (say 1e6
    # plus unit noise) from cancelling catastrophically in sum(w y^2) - n mean^2.
    centred = y - y.mean() if y.size else y
    mean_y = safe_divide(weights @ centred, n)
    total = weights @ (centred**2) - n * mean_y**2
    total = np.where(total > 1e-12 * np.maximum(weights @ (centred**2), 1e-300), total, 0.0)
    out = {
        "rmse": np.sqrt(safe_divide(weights @ error**2, n)),
        "mae": safe_divide(weights @ np.abs(error), n),
        "r2": 1 - safe_divide(weights @ error**2, total),
    }
    if np.all(y != 0):
        out["mape"] = safe_divide(weights @ np.abs(error / y), n)
    else:
        out["mape"] = np.full(n.shape, np.nan)
    return out
