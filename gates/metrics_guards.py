"""When the metrics gate does not trust its own interval: few rows of the rarer class, a bound within Monte
Carlo error of its threshold, and ROC AUC by DeLong instead of resampling.

Each guard answers a failure that simulation with known truths found (bench/calibration.py): optimistic
intervals with few positives, verdicts that flip with the bootstrap seed near the threshold, and percentile
intervals for ROC AUC that under-cover on small samples.
"""

from __future__ import annotations

import numpy as np

from gates.core.result import Check, Status
from gates.core.thresholds import Threshold
from gates.readers.predictions import Predictions, TabulatedPredictions
from gates.stats.bootstrap import Cells
from gates.stats.intervals import auc_interval, delong

MAX_RESAMPLES = 20_000  # the cap of adaptive resampling for a bound too close to its threshold


def near_threshold(samples: np.ndarray, threshold: Threshold, confidence: float) -> bool:
    """Whether a limit lies within the Monte Carlo band (three standard errors) of the percentile bound that
    is read against it: the alpha-quantile of B resamples moves by about sqrt(B alpha (1 - alpha)) ranks."""
    finite = np.sort(samples[np.isfinite(samples)])
    if finite.size < 2:
        return False
    alpha = (1 - confidence) / 2
    spread = 3 * np.sqrt(finite.size * alpha * (1 - alpha))
    for limit, q in ((threshold.min, alpha), (threshold.max, 1 - alpha)):
        if limit is None:
            continue
        k = q * (finite.size - 1)
        low = finite[int(max(0, np.floor(k - spread)))]
        high = finite[int(min(finite.size - 1, np.ceil(k + spread)))]
        if low < high and low <= limit <= high:  # a band of zero width is no Monte Carlo error
            return True
    return False


def contested(
    judged: list[tuple[Check, str, Threshold]], samples: dict[str, np.ndarray], confidence: float
) -> list[tuple[Check, Threshold]]:
    """Checks whose point value clears the threshold but whose bound sits within Monte Carlo error of it:
    their verdict (pass or fail when the bound decides, pass or warn on the point) would follow the seed."""
    out = []
    for check, key, threshold in judged:
        if check.status is Status.ERROR or key not in samples or check.value is None:
            continue
        value = float(check.value)
        clears = (threshold.min is None or value >= threshold.min) and (
            threshold.max is None or value <= threshold.max
        )
        if clears and near_threshold(samples[key], threshold, confidence):
            out.append((check, threshold))
    return out


DEFAULT_MIN_CLASS_ROWS = 20  # fewer positives (or negatives) than this and class-driven intervals under-cover


CLASS_DRIVEN = {"recall", "precision", "f1", "balanced_accuracy", "roc_auc", "average_precision", "log_loss"}


def class_counts(p: Predictions | TabulatedPredictions, cells: Cells | None) -> dict[str, int] | None:
    """Positives and negatives among the labels (binary tasks only)."""
    if p.task != "binary" or cells is None:
        return None
    counts = np.bincount(cells.columns["y"].astype(np.int64), weights=cells.counts, minlength=2)
    return {"negatives": round(float(counts[0])), "positives": round(float(counts[1]))}


def guard_class_counts(
    check: Check, metric: str, labels: dict[str, int] | None, floor: int, decide_on: str
) -> None:
    """A metric driven by the rarer class gets optimistic bootstrap intervals when that class has few rows
    (ROC AUC with 6 positives: 95% intervals cover 70%, and the misses favour passing). Below the floor the
    check warns, and when the bound decides it is an error: the bound cannot be trusted."""
    if labels is None or metric not in CLASS_DRIVEN:
        return
    rarest = min(labels, key=lambda k: labels[k])
    if labels[rarest] >= floor:
        return
    check.details.update(labels, min_class_rows=floor)
    check.why += (
        f"; only {labels[rarest]} {rarest} (below min_class_rows {floor}): the interval of {metric} "
        "is too optimistic to back a verdict"
    )
    if decide_on == "bound":
        check.status = Status.ERROR
    elif check.status is Status.PASS:
        check.status = Status.WARN


def delong_ci(cells: Cells | None, confidence: float) -> tuple[float, float] | None:
    """The candidate's ROC AUC interval by DeLong's variance on the logit scale: no resampling, and closer to
    its stated coverage than the percentile bootstrap when positives are few (prevalence 3%, n=200: 86%
    against 82%; see bench/results/calibration.md). None without scores or with one class."""
    if cells is None or "score" not in cells.columns:
        return None
    auc, variance = delong(cells.columns["score"], cells.columns["y"] != 0, cells.counts)
    low, high = auc_interval(auc, variance, confidence)
    return (low, high) if np.isfinite(low) else None
