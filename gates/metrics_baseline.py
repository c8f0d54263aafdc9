"""Non-inferiority against the production model: aligning its rows with the candidate's, and the checks.

The comparison is paired: both models are scored on the same rows (joined by id or by position, labels
checked equal), and every bootstrap resample reweights both by one draw, so row-to-row difficulty cancels
out of the difference. Each check also states what it can tell at this n (gates.stats.intervals.
noninferiority_power): a check that an equally good model rarely passes is called underpowered.
"""

from __future__ import annotations

import numpy as np

from gates.core.errors import InputError
from gates.core.result import Check, Status
from gates.core.settings.metrics import Margin, MetricsJudging
from gates.core.thresholds import Threshold, decide
from gates.readers.predictions import Predictions
from gates.stats import metrics as m
from gates.stats.intervals import POWER_TARGET, noninferiority_power


def align(
    candidate: Predictions, baseline: Predictions, join_on: str | None
) -> tuple[Predictions, Predictions]:
    """Put the baseline's rows in the candidate's order (by id, or by position) and check labels agree.

    Ids compare as text (1 and "1" are one id), through one sort of each side, not a Python dict of rows.
    """
    if join_on:
        keys = {}
        for name, p in (("candidate", candidate), ("baseline", baseline)):
            if p.ids is None:
                raise InputError(f"{p.path}: missing id column for join_on '{join_on}'")
            keys[name] = _id_keys(np.asarray(p.ids))
        if (
            keys["candidate"].dtype.kind != keys["baseline"].dtype.kind
        ):  # numbers on one side, text on the other
            keys = {k: v.astype(str) for k, v in keys.items()}
        for name, p in (("candidate", candidate), ("baseline", baseline)):
            ordered = np.sort(keys[name])
            repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
            if repeated.size:
                raise InputError(
                    f"{p.path}: id column has duplicates (for example {str(ordered[repeated[0]])!r})"
                )
        base_order = np.argsort(keys["baseline"], kind="stable")
        base_sorted = keys["baseline"][base_order]
        where = np.minimum(np.searchsorted(base_sorted, keys["candidate"]), max(base_sorted.size - 1, 0))
        found = (
            base_sorted[where] == keys["candidate"] if base_sorted.size else np.zeros(candidate.rows, bool)
        )
        order = np.where(found, base_order[where], -1)
        if not found.all() or base_sorted.size != candidate.rows:
            missing = int((~found).sum())
            extra = base_sorted.size - (candidate.rows - missing)
            raise InputError(
                f"{baseline.path}: ids do not match the candidate's ({missing} candidate ids missing, "
                f"{extra} extra); the comparison needs the same rows"
            )
        baseline = _take(baseline, order)
    elif baseline.rows != candidate.rows:
        raise InputError(
            f"{baseline.path}: {baseline.rows} rows, but the candidate has {candidate.rows}; "
            f"joined by row order they must match (or set baseline.join_on)"
        )
    disagree = np.flatnonzero(candidate.y != baseline.y)
    if disagree.size:
        row = int(disagree[0])
        raise InputError(
            f"{baseline.path}: label differs from the candidate's at row {row + 1} "
            f"({disagree.size} rows in all): the two files are not the same rows"
        )
    return candidate, baseline


def _id_keys(ids: np.ndarray) -> np.ndarray:
    """Ids as sortable keys that compare like their text: integers stay integers, the rest becomes text."""
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64, copy=False)
    if ids.dtype.kind == "O":
        return np.array([str(v) for v in ids.tolist()], dtype=str)
    return ids.astype(str)


def _take(p: Predictions, order: np.ndarray) -> Predictions:
    score = p.score[order] if p.score is not None else None
    ids = p.ids[order] if p.ids is not None else None
    return Predictions(p.path, p.task, p.y[order], p.pred[order], score, p.classes, ids, None)


def baseline_checks(
    settings: MetricsJudging,
    point: dict[str, float],
    ci,
    confidence: float,
    reasons: dict[str, str],
    samples: dict[str, np.ndarray],
) -> list[tuple[Check, Threshold]]:
    """Non-inferiority: candidate minus baseline must not fall below -margin (or above +margin for losses).

    Each check also says what it can tell at this n: the chance that a model exactly as good as the baseline
    passes, and the smallest margin it would pass with 80% chance. With the bound deciding and a margin of 0
    an equal model passes 2.5% of the time, so the margin must be written down, never implied.
    """
    spec = settings.baseline
    assert spec is not None, "baseline_checks needs metrics.baseline"
    decide_on = spec.decide_on
    if not spec.margins and decide_on == "bound":
        raise InputError(
            "metrics.baseline.margins: decide_on bound needs an explicit non-inferiority margin per metric "
            "(with none, an equally good candidate fails about 97% of the time)"
        )
    margins = spec.margins or {name: Margin(absolute=0.0) for name in settings.limits()}
    checks = []
    for metric, margin in margins.items():
        if f"d:{metric}" not in point:
            raise InputError(
                f"metrics.baseline.margins.{metric}: unknown metric for this task "
                f"(known: {', '.join(sorted(k[2:] for k in point if k.startswith('c:')))})"
            )
        base, cand, diff = point[f"b:{metric}"], point[f"c:{metric}"], point[f"d:{metric}"]
        allowed = margin.allowed(base)
        lower_is_better = metric in m.LOWER_IS_BETTER
        threshold = (
            Threshold(max=allowed, decide_on=decide_on)
            if lower_is_better
            else Threshold(min=-allowed + 0.0, decide_on=decide_on)
        )  # + 0.0: a zero margin shows as 0, not -0
        details = {
            "candidate": cand,
            "baseline": base,
            "difference": diff,
            "margin": allowed,
            "margin_kind": "absolute" if margin.absolute is not None else "relative",
            "direction": "lower is better" if lower_is_better else "higher is better",
        }
        check = decide(
            f"{metric}_vs_baseline",
            diff,
            ci(f"d:{metric}"),
            threshold,
            confidence,
            label=f"{metric} difference (candidate {cand:.4g} - baseline {base:.4g})",
            details=details,
        )
        if check.status is Status.ERROR:
            check.why = f"{metric} is undefined: {reasons.get(metric, 'no valid value on these rows')}"
        elif f"d:{metric}" in samples:
            _add_power(check, samples[f"d:{metric}"], allowed, confidence, decide_on)
        checks.append((check, threshold))
    return checks


def _add_power(
    check: Check, differences: np.ndarray, margin: float, confidence: float, decide_on: str
) -> None:
    """State the check's power for an equal model, and warn when a pass of an equal model is unlikely."""
    finite = differences[np.isfinite(differences)]
    if finite.size < 2:
        return
    power = noninferiority_power(float(np.std(finite, ddof=1)), margin, confidence, decide_on)
    check.details.update(
        standard_error=power.standard_error,
        equal_model_passes=power.equal_model_passes,
        minimum_detectable_difference=power.minimum_detectable_difference,
    )
    if power.equal_model_passes < POWER_TARGET:
        note = (
            f"underpowered: an equally good model passes this check {power.equal_model_passes:.0%} of the "
            f"time at this n; a margin of {power.minimum_detectable_difference:.3g} would give "
            f"{POWER_TARGET:.0%}"
        )
        check.why += f"; {note}"
        if check.status is Status.PASS:
            check.status = Status.WARN
