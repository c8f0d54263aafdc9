"""Studentized (bootstrap-t) intervals, for the metrics whose percentile bootstrap under-covers on small samples.

Simulation with known truths (bench/calibration.py) found two such places, both where a few rows carry the
metric: ROC AUC with few rows of one class (prevalence 3%, n=200: percentile 80%, DeLong on the logit scale
86-88%) and log loss with rare positives (n=200: percentile 90%). A percentile interval inherits the skew of
a statistic built on a handful of rows; the bootstrap-t pivots each resample by its own standard error,
t* = (theta* - theta) / se*, and reads the interval as [theta - t*_(1-a/2) se, theta - t*_(a/2) se], which
corrects for skew and for the noise in se (second-order accurate; Hall 1988, Efron and Tibshirani ch. 12).

- ROC AUC: resampled within each label (the class counts stay fixed: AUC is a two-sample statistic, so that is
  the design), standard errors by DeLong's placements at every resample (O(levels) each, no row-pair work);
- means of per-row values (log loss, Brier): ordinary row resampling, the standard error from the resampled
  sum of squares.

The result is handed back as "samples" theta - t* se: their percentile interval is the bootstrap-t interval, so
the gate's interval, Monte Carlo band and adaptive resampling (gates/metrics_guards.py) apply unchanged.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gates.stats.bootstrap import Cells, weight_chunks


def delong_levels(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and DeLong's variance for each row of (b, L) positive and negative weights per score level
    (levels in ascending score order; ties count one half). NaN where a class has fewer than two rows.

    Each positive's placement is the share of negatives it outranks, each negative's the share of positives
    above it; the AUC is their mean and its variance var(V10)/m + var(V01)/n (DeLong, DeLong and
    Clarke-Pearson 1988; Sun and Xu 2014 for the sort-based computation).
    """
    m = pos.sum(axis=1, keepdims=True)
    n = neg.sum(axis=1, keepdims=True)
    # The same arithmetic, in the same order, as (cumsum(neg) - neg / 2) / n and so on, but in place in two
    # (b, L) buffers: at 1e7 score levels every temporary is 80 MB and its allocation costs more than the sums.
    with np.errstate(invalid="ignore", divide="ignore"):
        placement = np.cumsum(neg, axis=1)  # per level, for a positive there: V10
        scratch = np.multiply(neg, 0.5)
        placement -= scratch
        placement /= n
        auc = np.multiply(pos, placement, out=scratch).sum(axis=1, keepdims=True) / m
        placement -= auc
        np.square(placement, out=placement)
        s10 = np.multiply(pos, placement, out=scratch).sum(axis=1, keepdims=True) / (m - 1)
        np.cumsum(pos, axis=1, out=placement)  # per level, for a negative there: V01
        np.subtract(m, placement, out=placement)
        placement += np.multiply(pos, 0.5, out=scratch)
        placement /= m
        placement -= auc
        np.square(placement, out=placement)
        s01 = np.multiply(neg, placement, out=scratch).sum(axis=1, keepdims=True) / (n - 1)
        variance = s10 / m + s01 / n
    defined = (m >= 2) & (n >= 2)
    return np.where(defined, auc, np.nan)[:, 0], np.where(defined, variance, np.nan)[:, 0]


def _score_levels(cells: Cells) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """The order that sorts the cells by score (None when they already are: exact and coarse binary cells of
    one group come sorted, and an argsort of 1e7 cells would take most of the time), where each score level
    starts, and which cells are positives (in that order)."""
    score = cells.columns["score"]
    order = None if bool(np.all(score[1:] >= score[:-1])) else np.argsort(score, kind="stable")
    ordered = score if order is None else score[order]
    change = np.empty(ordered.size, dtype=bool)
    change[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    positive = np.asarray(cells.columns["y"] != 0)
    return order, np.flatnonzero(change), positive if order is None else positive[order]


def auc_point(cells: Cells) -> tuple[float, float]:
    """ROC AUC and its DeLong variance from the cells' counts (NaN with fewer than two rows of a class)."""
    order, starts, positive = _score_levels(cells)
    counts = cells.counts if order is None else cells.counts[order]
    on_positives = np.where(positive, counts, 0.0)
    pos = _level_sums(on_positives, starts)
    neg = _level_sums(np.subtract(counts, on_positives, out=on_positives), starts)
    auc, variance = delong_levels(pos[None, :], neg[None, :])
    return float(auc[0]), float(variance[0])


def _level_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """np.add.reduceat(values, starts), the same sums in the same order, for runs that are mostly one cell
    long (distinct scores): the first cell of each run is copied and the few others added, where reduceat's
    cost per run made it the slowest step at 1e7 runs."""
    sums: np.ndarray = values[starts]
    if starts.size < values.size:
        later = np.ones(values.size, dtype=bool)
        later[starts] = False
        rest = np.flatnonzero(later)
        np.add.at(sums, np.searchsorted(starts, rest, side="right") - 1, values[rest])
    return sums


def auc_pivots(cells: Cells, resamples: int, seed: int) -> np.ndarray:
    """t* = (AUC* - AUC) / se* of `resamples` resamples drawn within each label, se* by DeLong.

    A resample whose drawn positives all outrank its negatives has DeLong se 0 and an infinite pivot: with few
    positives that is what widens the interval down to where the truth can be (flooring se* at a share of the
    data's se cut the coverage at 6 positives from 92% to 86%, bench/calibration.py)."""
    auc, _ = auc_point(cells)
    order, starts, positive = _score_levels(cells)
    by_label = replace(cells, strata=np.asarray(cells.columns["y"] != 0, dtype=np.int64))
    parts = []
    for weights in weight_chunks(by_label, resamples, seed):
        w = weights if order is None else weights[:, order]
        pos = np.add.reduceat(w * positive, starts, axis=1)
        neg = np.add.reduceat(w * ~positive, starts, axis=1)
        drawn, variance = delong_levels(pos, neg)
        parts.append(pivot(drawn, auc, np.sqrt(variance)))
    return np.concatenate(parts) if parts else np.zeros(0)


def mean_point(cells: Cells, values: np.ndarray, squares: np.ndarray | None = None) -> tuple[float, float]:
    """Mean of a per-row value over the cells' rows and its standard error (sd / sqrt(n)). `squares` is each
    cell's mean square when a cell holds rows of different values (coarse cells), else values**2."""
    squares = values * values if squares is None else squares
    n = float(cells.counts.sum())
    mean = float(cells.counts @ values) / n
    variance = max(float(cells.counts @ squares) / n - mean * mean, 0.0) * n / max(n - 1, 1)
    return mean, math.sqrt(variance / n)


def mean_pivots(
    cells: Cells, values: dict[str, tuple[np.ndarray, np.ndarray]], resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """t* of the means of per-row values over `resamples` ordinary (row) resamples, one set of draws for all.
    `values` maps a name to each cell's (mean value, mean square) (equal to (v, v**2) on exact cells)."""
    n = float(cells.counts.sum())
    centres = {name: mean_point(cells, v, sq)[0] for name, (v, sq) in values.items()}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in values}
    for weights in weight_chunks(replace(cells, strata=None), resamples, seed):
        for name, (v, sq) in values.items():
            drawn = weights @ v / n
            variance = np.maximum(weights @ sq / n - drawn * drawn, 0.0) * n / max(n - 1, 1)
            parts[name].append(pivot(drawn, centres[name], np.sqrt(variance / n)))
    return {name: np.concatenate(p) if p else np.zeros(0) for name, p in parts.items()}


def pivot(drawn: np.ndarray, point: float, standard_error: np.ndarray) -> np.ndarray:
    """(drawn - point) / se, with a resample of no spread at +-inf (or 0 when it equals the point): such a
    resample says the statistic can move while its own se says it cannot, the most extreme pivot there is."""
    gap = drawn - point
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(
            standard_error > 0,
            gap / np.where(standard_error > 0, standard_error, 1.0),
            np.where(gap == 0, 0.0, np.sign(gap) * np.inf),
        )
    return np.where(np.isnan(drawn), np.nan, t)


def as_samples(
    point: float, standard_error: float, pivots: np.ndarray, low: float, high: float
) -> np.ndarray:
    """point - t* se for every pivot, clipped to the statistic's range [low, high]: their percentile interval
    is the bootstrap-t interval (the map is monotone, so quantiles and clipping commute)."""
    with np.errstate(invalid="ignore"):
        mapped = point - pivots * standard_error
    if standard_error == 0:  # no spread in the data: every resample equals the point
        mapped = np.where(np.isnan(pivots), np.nan, point)
    return np.clip(mapped, low, high)
