"""Accuracy and calibration of the labelled subset, with intervals, judged so that noise alone does not alarm.

Labels arrive late and only for some predictions, so the subset is small and its numbers are noisy. A check
fails only when its whole interval is on the wrong side of the limit (the regression is established at the
stated confidence); a point value on the wrong side with an interval that reaches across warns.

- accuracy: predicted class = score >= threshold; Wilson score interval (gates.stats.intervals.wilson).
- calibration: calibration-in-the-large, mean(score) - mean(outcome), the share of positives the model predicts
  minus the share observed; normal interval from the per-row differences (their mean is a mean of n
  independent terms). A well-calibrated model has 0; `max_calibration_gap` bounds its absolute value.
"""

from __future__ import annotations

import math

import numpy as np

from gates.core.result import Check, Status
from gates.core.settings.monitor import Labelled
from gates.stats.intervals import wilson, z_two_sided


def _judge(
    name: str, value: float, ci: tuple[float, float], bad: bool, established: bool, what: str, limit: str
) -> Check:
    if established:
        status, why = Status.FAIL, f"{what}: the whole interval is past the limit ({limit})"
    elif bad:
        status, why = Status.WARN, f"{what}: past the limit ({limit}) but the interval reaches across it"
    else:
        status, why = Status.PASS, f"{what}: within the limit ({limit})"
    return Check(
        name, status, why, value=round(value, 6), ci=(round(ci[0], 6), round(ci[1], 6)), threshold=limit
    )


def too_few(name: str, n: int, minimum: int) -> Check:
    return Check(
        name,
        Status.WARN,
        f"{n} labelled predictions, fewer than {minimum}: not judged (labels arrive late; it is judged once "
        "enough have arrived)",
        value=n,
        threshold=f">= {minimum} labels",
    )


def accuracy_check(correct: float, trials: float, minimum: float, confidence: float) -> Check:
    lows, highs = wilson(np.array([correct]), np.array([trials]), confidence)
    low, high = float(lows[0]), float(highs[0])
    value = correct / trials
    what = f"accuracy {value:.4f} on {trials:g} labelled predictions, {confidence:.0%} interval [{low:.4f}, {high:.4f}]"
    return _judge("accuracy", value, (low, high), value < minimum, high < minimum, what, f">= {minimum:g}")


def calibration_check(labels: np.ndarray, scores: np.ndarray, max_gap: float, confidence: float) -> Check:
    differences = scores - labels
    n = differences.size
    gap = float(differences.mean())
    half = z_two_sided(confidence) * float(differences.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    low, high = gap - half, gap + half
    what = (
        f"calibration gap (mean score - observed rate) {gap:+.4f} on {n} labels, {confidence:.0%} interval "
        f"[{low:+.4f}, {high:+.4f}]"
    )
    established = low > max_gap or high < -max_gap
    return _judge(
        "calibration", gap, (low, high), abs(gap) > max_gap, established, what, f"|gap| <= {max_gap:g}"
    )


def labelled_checks(
    labels: np.ndarray | None,
    scores: np.ndarray | None,
    counts: tuple[float, float] | None,
    settings: Labelled,
) -> list[Check]:
    """The accuracy and calibration checks the policy asks for (none when it asks for neither)."""
    confidence, minimum, threshold = settings.confidence, settings.min_labels, settings.threshold
    checks: list[Check] = []
    if labels is not None and scores is not None:
        counts = (float(((scores >= threshold) == (labels == 1)).sum()), float(labels.size))
    if settings.min_accuracy is not None:
        if counts is None or counts[1] < minimum:
            checks.append(too_few("accuracy", int(counts[1]) if counts else 0, minimum))
        else:
            checks.append(accuracy_check(counts[0], counts[1], settings.min_accuracy, confidence))
    if settings.max_calibration_gap is not None:
        if labels is None or scores is None or labels.size < minimum:
            n = int(labels.size) if labels is not None else 0
            checks.append(too_few("calibration", n, minimum))
        else:
            checks.append(calibration_check(labels, scores, settings.max_calibration_gap, confidence))
    return checks
