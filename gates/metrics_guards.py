"""When the metrics gate does not trust the percentile bootstrap as it stands: few rows of the rarer class,
a bound within Monte Carlo error of its threshold, and the metrics whose percentile interval under-covers.

Each guard answers a failure that simulation with known truths found (bench/calibration.py): optimistic
intervals with few positives (a floor of rows per class), verdicts that flip with the bootstrap seed near the
threshold (adaptive resampling from a seed fixed by the data, then "too close to call"), and percentile
intervals for ROC AUC and log loss that under-cover on small samples (studentized intervals instead).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from gates.core.result import Check, Status
from gates.core.thresholds import Threshold
from gates.readers.predictions import Predictions, TabulatedPredictions
from gates.stats import metrics as m
from gates.stats import studentized as st
from gates.stats.bootstrap import EXACT_CELLS, Cells, coarsen

MAX_RESAMPLES = 20_000  # the cap of adaptive resampling for a bound too close to its threshold
Judged = list[tuple[Check, str, Threshold]]


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


def data_seed(point: dict[str, float]) -> int:
    """A seed fixed by the data alone (a hash of the point values), for the resamples that settle a bound
    too close to its threshold: the same data then gives the same verdict whatever bootstrap.seed says."""
    text = ";".join(f"{k}={v!r}" for k, v in sorted(point.items()))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def settle(
    judge: Callable[[], Judged],
    draw: Callable[[int, int], dict[str, np.ndarray]],
    samples: dict[str, np.ndarray],
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[Judged, int]:
    """Judge, and resolve bounds that sit within Monte Carlo error of their thresholds.

    A contested bound (contested()) would follow the seed. Its resamples are then drawn
    again from `seed` (data_seed: fixed by the data, not by the policy), twice as many, doubling and pooled
    until every bound is clear or MAX_RESAMPLES is reached; a bound still that close is *too close to call*:
    a warning with its reason, neither a pass nor a fail, in either decision mode. `samples` is replaced in
    place (the judge reads it); returns the checks and the resamples behind them.
    """
    judged = judge()
    if not resamples or not contested(judged, samples, confidence):
        return judged, resamples
    total, round_ = min(2 * resamples, MAX_RESAMPLES), 0
    samples.update(draw(total, seed))
    judged = judge()
    close = contested(judged, samples, confidence)
    while close and total < MAX_RESAMPLES:
        round_ += 1
        more = draw(total, seed + round_)
        samples.update({k: np.concatenate([v, more[k]]) for k, v in samples.items()})
        total *= 2
        judged = judge()
        close = contested(judged, samples, confidence)
    for check, threshold in close:
        check.details["too_close_to_call"] = True
        check.why += (
            f"; too close to call: after {total} resamples the interval's bound is still within Monte Carlo "
            "error of the threshold, so which side it falls on would follow the resampling; a warning, "
            "neither a pass nor a fail"
        )
        if check.status in (Status.PASS, Status.FAIL):
            check.status = Status.WARN
    return judged, total


def loss_sums(losses: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per exact cell losses and their squares: the sums a coarse cell must carry for the studentized means
    (coarsen(cells, sums=loss_sums(...)) gives cells that both the percentile bootstrap and
    studentized_samples can use, so the exact cells are binned once)."""
    return {**losses, **{f"{k}_squared": v * v for k, v in losses.items()}}


def studentized_samples(
    cells: Cells | None,
    resamples: int,
    seed: int,
    losses: dict[str, np.ndarray] | None = None,
    coarse: Cells | None = None,
    auc: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Bootstrap-t samples (gates.stats.studentized) of the candidate's ROC AUC (resampled within each label)
    and of its log loss and Brier score (means of per-row losses), in place of their percentile samples.

    Many distinct scores are first merged into score bins (gates.stats.bootstrap.coarsen) for the resamples;
    the pivots t* come from the bins, the centre and standard error from the exact cells. `losses` (per exact
    cell) and `coarse` (those cells coarsened with loss_sums(losses)) are the caller's when it has them
    already: at 1e7 cells computing them again cost a third of the metrics gate. So is `auc`, the exact
    cells' ROC AUC and DeLong variance (gates.stats.metrics.ranking_point, shared with the point values).
    """
    if cells is None or "score" not in cells.columns or not resamples:
        return {}
    if losses is None:
        losses = (
            {k: cells.columns[k] for k in ("log_loss", "brier")}
            if "log_loss" in cells.columns
            else m.binary_losses(cells.columns["y"], cells.columns["score"])
        )
    drawn = cells
    if cells.size > EXACT_CELLS:
        drawn = coarse if coarse is not None else coarsen(cells, sums=loss_sums(losses))[0]
    out: dict[str, np.ndarray] = {}
    centre, variance = st.auc_point(cells) if auc is None else auc
    if np.isfinite(centre) and np.isfinite(variance):  # NaN with fewer than two rows of a class
        pivots = st.auc_pivots(drawn, resamples, seed)
        out["c:roc_auc"] = st.as_samples(centre, float(np.sqrt(variance)), pivots, 0.0, 1.0)
    columns = {
        name: (drawn.columns[name], drawn.columns[f"{name}_squared"])
        if drawn is not cells
        else (values, values * values)
        for name, values in losses.items()
    }
    for name, pivots in st.mean_pivots(drawn, columns, resamples, seed).items():
        mean, error = st.mean_point(cells, losses[name])  # one score and label per exact cell: one loss
        out[f"c:{name}"] = st.as_samples(mean, error, pivots, 0.0, float(np.finfo(np.float64).max))
    return out


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
