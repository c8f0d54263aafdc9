"""The metrics gate's numbers: each metric's point value and its bootstrap samples, for the candidate alone or
paired with the baseline on the same rows (joint cells; score bins when there are too many), and the words that
say how the intervals were drawn. :func:`gates.metrics.evaluate` judges them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gates.core.errors import InputError
from gates.metrics_guards import (
    loss_sums,
    studentized_samples,
)
from gates.readers.predictions import Predictions, TabulatedPredictions
from gates.resample import bootstrap
from gates.stats import metrics as m
from gates.stats.bootstrap import (
    BOOTSTRAP_BINS,
    EXACT_CELLS,
    Cells,
    binary_cells,
    coarsen,
    coarsen_edges,
    compress,
)


def _columns(p: Predictions, prefix: str) -> dict[str, np.ndarray]:
    cols = {f"{prefix}pred": p.pred}
    if p.score is not None:
        cols[f"{prefix}score"] = p.score
    return cols


def metric_function(p: Predictions | TabulatedPredictions):
    """The vectorised metric function for this task, reading columns with the given prefix from cells."""

    def compute(
        weights: np.ndarray,
        columns: dict[str, np.ndarray],
        prefix: str,
        ranking: dict[str, float] | None = None,
    ) -> dict[str, np.ndarray]:
        y, pred, score = columns["y"], columns[f"{prefix}pred"], columns.get(f"{prefix}score")
        if p.task == "binary":
            losses = (
                {k: columns[f"{prefix}{k}"] for k in ("log_loss", "brier")}
                if f"{prefix}log_loss" in columns
                else None
            )
            return m.binary(weights, y, pred, score, losses, ranking)
        if p.task == "multiclass":
            return m.multiclass(weights, y, pred, score, len(p.classes))
        return m.regression(weights, y, pred)

    return compute


RANKING = ("roc_auc", "average_precision")


PAIRED_CELLS = 8192  # most joint cells (candidate bin x baseline bin x label x predictions) for the bootstrap


def _statistic(compute, columns: dict[str, np.ndarray], paired: bool):
    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        out = {f"c:{k}": v for k, v in compute(weights, columns, "c_").items()}
        if paired:
            base = compute(weights, columns, "b_")
            out.update({f"b:{k}": v for k, v in base.items()})
            out.update({f"d:{k}": out[f"c:{k}"] - v for k, v in base.items()})
        return out

    return statistic


def tabulate(p: Predictions | TabulatedPredictions) -> Cells:
    """The exact cells of binary predictions (already made by the streaming reader, or from the rows)."""
    if isinstance(p, TabulatedPredictions):
        return p.cells
    return binary_cells(p.y, p.pred, p.score)


def point_and_samples(
    candidate: Predictions | TabulatedPredictions,
    baseline: Predictions | None,
    resamples: int,
    seed: int,
    exact: dict[str, Cells] | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, Any]]:
    """Point values (equal to scikit-learn's), bootstrap samples, and how they were made (for the evidence).

    Binary tasks take the fast path: point values from the exact cells (gates.stats.bootstrap.binary_cells: one sort of
    the scores), the bootstrap over the exact cells when they are few, else over score-bin cells
    (gates.stats.bootstrap.coarsen); count metrics and losses are exact either way, ranking metrics (ROC AUC, average
    precision) of each resample are computed on the bins and shifted by the point's binning offset.
    """
    compute = metric_function(candidate)
    point: dict[str, float]
    if isinstance(candidate, Predictions) and candidate.task != "binary":  # tabulated ones are binary
        columns = {"y": candidate.y, **_columns(candidate, "c_")}
        if baseline is not None:
            columns.update(_columns(baseline, "b_"))
        cells = compress(columns)
        statistic = _statistic(compute, cells.columns, baseline is not None)
        point = {k: float(v[0]) for k, v in statistic(cells.counts[None, :]).items()}
        samples = bootstrap(cells, statistic, resamples, seed) if resamples else {}
        return point, samples, {"cells": cells.size, "binned": False}

    models: dict[str, Predictions | TabulatedPredictions] = (
        {"c_": candidate} if baseline is None else {"c_": candidate, "b_": baseline}
    )
    point = {}
    exact = dict(exact or {})
    losses: dict[str, dict[str, np.ndarray]] = {}
    # the candidate's exact ranking point, shared with its studentized ROC AUC interval
    ranked: dict[str, float] | None = None
    for prefix, p in models.items():
        if prefix not in exact:  # (not setdefault: its argument, a sort of every score, would run anyway)
            exact[prefix] = tabulate(p)
        cells = exact[prefix]
        columns = _prefixed(cells.columns, prefix)
        if "log_loss" in cells.columns:  # streamed cells on a score grid carry the exact mean losses
            losses[prefix] = {k: cells.columns[k] for k in ("log_loss", "brier")}
        elif p.score is not None:  # per-cell losses once, for the point value and for the coarse cells
            losses[prefix] = m.binary_losses(cells.columns["y"], cells.columns["score"])
            columns.update({f"{prefix}{k}": v for k, v in losses[prefix].items()})
        ranking = None
        if "score" in cells.columns:
            ranking = m.ranking_point(
                cells.counts, cells.columns["y"], cells.columns["score"], prefix == "c_"
            )
            ranked = ranking if prefix == "c_" else ranked
        values = compute(cells.counts[None, :], columns, prefix, ranking)
        point.update({f"{prefix[0]}:{k}": float(v[0]) for k, v in values.items()})
    if baseline is not None:
        point.update(
            {f"d:{k[2:]}": point[k] - point[f"b:{k[2:]}"] for k in list(point) if k.startswith("c:")}
        )
    if not resamples:
        return point, {}, {"cells": exact["c_"].size, "binned": False}
    if baseline is None:
        cells, binning = exact["c_"], None
        if candidate.score is not None and cells.size > EXACT_CELLS:
            cells, binning = coarsen(cells, sums=loss_sums(losses["c_"]))
        columns = _prefixed(cells.columns, "c_")
        if binning is None and "c_" in losses:
            columns.update({f"c_{k}": v for k, v in losses["c_"].items()})
        info: dict[str, Any] = {"cells": cells.size, "binned": binning is not None}
        if binning is not None:
            info.update(bins=binning.bins, exact_cells=binning.exact_cells)
    elif isinstance(candidate, TabulatedPredictions):  # run() streams only without a baseline
        raise InputError(f"{candidate.path}: the baseline comparison needs per-row predictions, not cells")
    else:
        cells, columns, info = _paired_cells(candidate, baseline, exact)
    statistic = _statistic(compute, columns, baseline is not None)
    samples = bootstrap(cells, statistic, resamples, seed)
    if info["binned"]:
        binned_point = {k: float(v[0]) for k, v in statistic(cells.counts[None, :]).items()}
        shifts = {
            k: point[k] - binned_point[k]
            for k in samples
            if k.split(":")[1] in RANKING and np.isfinite(point[k]) and np.isfinite(binned_point[k])
        }
        for key, shift in shifts.items():
            samples[key] = samples[key] + shift
        info["shift"] = {k: v for k, v in shifts.items()}
        info["auc_bound"] = {
            f"{prefix[0]}:roc_auc": auc_bound(cells.counts, columns["y"], columns[f"{prefix}score"])
            for prefix in models
            if f"{prefix}score" in columns
        }
    coarse = cells if baseline is None and info["binned"] else None
    auc = (ranked["roc_auc"], ranked["roc_auc_variance"]) if ranked is not None else None
    samples.update(studentized_samples(exact["c_"], resamples, seed, losses.get("c_"), coarse, auc))
    return point, samples, info


def _prefixed(columns: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {("y" if k == "y" else f"{prefix}{k}"): v for k, v in columns.items()}


def auc_bound(counts: np.ndarray, y: np.ndarray, level: np.ndarray) -> float:
    """Largest possible gap between a binned and the exact ROC AUC on these weights: half the share of
    positive-negative pairs that fall in one bin (they count as ties in the bins)."""
    y = np.asarray(y).astype(bool)
    _, inverse = np.unique(level, return_inverse=True)
    pos = np.bincount(inverse, weights=counts * y)
    neg = np.bincount(inverse, weights=counts * ~y)
    pairs = pos.sum() * neg.sum()
    return float(0.5 * (pos * neg).sum() / pairs) if pairs else float("nan")


def _paired_cells(
    candidate: Predictions, baseline: Predictions, exact: dict[str, Cells]
) -> tuple[Cells, dict[str, np.ndarray], dict[str, Any]]:
    """Joint cells of both models on the same rows, for the paired bootstrap: exact when few, else each
    model's score in quantile bins (fewer bins until at most PAIRED_CELLS cells are left)."""
    columns = {"y": candidate.y, **_columns(candidate, "c_"), **_columns(baseline, "b_")}
    if candidate.rows <= 4 * EXACT_CELLS:
        cells = compress(columns)
        if cells.size <= EXACT_CELLS or (candidate.score is None and baseline.score is None):
            return cells, cells.columns, {"cells": cells.size, "binned": False}
    bins = BOOTSTRAP_BINS
    while True:
        binned = {"y": candidate.y, "c_pred": candidate.pred, "b_pred": baseline.pred}
        sums: dict[str, np.ndarray] = {}
        for prefix, p in (("c_", candidate), ("b_", baseline)):
            if p.score is None:
                continue
            ex = exact[prefix]
            edges = coarsen_edges(ex.columns["score"], ex.counts, bins)
            binned[f"{prefix}score"] = np.searchsorted(edges, p.score, side="left").astype(np.float64)
            for name, values in m.binary_losses(p.y, p.score).items():
                sums[f"{prefix}{name}"] = values
        cells = compress(binned)
        if cells.size <= PAIRED_CELLS or bins <= 16:
            break
        bins //= 2
    out = dict(cells.columns)
    row_cell = cells.row_cell
    assert row_cell is not None  # compress() keeps each row's cell
    for name, values in sums.items():  # per joint cell: the mean loss of its rows
        out[name] = np.bincount(row_cell, weights=values, minlength=cells.size) / cells.counts
    return cells, out, {"cells": cells.size, "binned": True, "bins": bins, "exact_cells": None}


def bootstrap_method(info: dict[str, Any]) -> str:
    text = (
        "percentile bootstrap over rows (multinomial over distinct rows); the candidate's ROC AUC, log loss and "
        "Brier score: studentized bootstrap (bootstrap-t; ROC AUC resampled within each label with DeLong "
        "standard errors)"
    )
    if not info.get("binned"):
        return text
    bound = max([v for v in (info.get("auc_bound") or {}).values() if np.isfinite(v)], default=float("nan"))
    return (
        f"{text}; ranking metrics (ROC AUC, average precision) of each resample from {info['bins']} score "
        f"bins, shifted by the point value's binning offset (binning moves a resample's ROC AUC by at most "
        f"{bound:.2g}); counts and losses exact"
    )
