"""Model-metrics gate: metric thresholds with bootstrap intervals, and non-inferiority against the baseline.

The baseline comparison is paired: the candidate and the production model are scored on the same rows and
every resample reweights both by the same draw, so row-to-row difficulty cancels out of the difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gates import metrics as m
from gates import plots
from gates.context import GateContext
from gates.errors import InputError
from gates.predictions import Predictions, load_predictions
from gates.result import Check, GateResult, Status
from gates.stats import bootstrap, compress, percentile_interval
from gates.thresholds import Threshold, decide

GATE = "metrics"


def run(section: dict[str, Any], ctx: GateContext) -> GateResult:
    spec = section.get("baseline")
    join_on = spec.get("join_on", _default_join(section)) if spec else None
    candidate = load_predictions(ctx.path(section["predictions"]), _with_id(section, join_on))
    baseline = None
    if spec:
        base_section = {**section, "columns": spec.get("columns", section.get("columns"))}
        baseline = load_predictions(ctx.path(spec["predictions"]), _with_id(base_section, join_on))
        candidate, baseline = align(candidate, baseline, join_on)
    result = evaluate(candidate, baseline, section, ctx)
    result.artifacts.update(plots.metric_curves(candidate, baseline, ctx.report_dir))  # ROC / PR pictures
    return result


def _default_join(section: dict[str, Any]) -> str | None:
    return (section.get("columns") or {}).get("id")


def _with_id(section: dict[str, Any], join_on: str | None) -> dict[str, Any]:
    """The join column is the id column of both files, whether or not columns.id names it too."""
    if not join_on:
        return section
    return {**section, "columns": {**(section.get("columns") or {}), "id": join_on}}


def align(candidate: Predictions, baseline: Predictions, join_on: str | None) -> tuple[Predictions, Predictions]:
    """Put the baseline's rows in the candidate's order (by id, or by position) and check labels agree."""
    if join_on:
        for p in (candidate, baseline):
            if p.ids is None:
                raise InputError(f"{p.path}: missing id column for join_on '{join_on}'")
            ids = np.asarray(p.ids)
            unique, counts = np.unique(ids.astype(str), return_counts=True)
            if (counts > 1).any():
                raise InputError(f"{p.path}: id column has duplicates (for example {str(unique[counts > 1][0])!r})")
        position = {str(v): i for i, v in enumerate(baseline.ids)}
        order = np.array([position.get(str(v), -1) for v in candidate.ids])
        if (order < 0).any() or len(position) != candidate.rows:
            missing = int((order < 0).sum())
            extra = len(position) - (candidate.rows - missing)
            raise InputError(f"{baseline.path}: ids do not match the candidate's ({missing} candidate ids missing, "
                             f"{extra} extra); the comparison needs the same rows")
        baseline = _take(baseline, order)
    elif baseline.rows != candidate.rows:
        raise InputError(f"{baseline.path}: {baseline.rows} rows, but the candidate has {candidate.rows}; "
                         f"joined by row order they must match (or set baseline.join_on)")
    disagree = np.flatnonzero(candidate.y != baseline.y)
    if disagree.size:
        row = int(disagree[0])
        raise InputError(f"{baseline.path}: label differs from the candidate's at row {row + 1} "
                         f"({disagree.size} rows in all): the two files are not the same rows")
    return candidate, baseline


def _take(p: Predictions, order: np.ndarray) -> Predictions:
    score = p.score[order] if p.score is not None else None
    ids = p.ids[order] if p.ids is not None else None
    return Predictions(p.path, p.task, p.y[order], p.pred[order], score, p.classes, ids, None)


def _columns(p: Predictions, prefix: str) -> dict[str, np.ndarray]:
    cols = {f"{prefix}pred": p.pred}
    if p.score is not None:
        cols[f"{prefix}score"] = p.score
    return cols


def metric_function(p: Predictions):
    """The vectorised metric function for this task, reading columns with the given prefix from cells."""
    def compute(weights: np.ndarray, columns: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
        y, pred, score = columns["y"], columns[f"{prefix}pred"], columns.get(f"{prefix}score")
        if p.task == "binary":
            return m.binary(weights, y, pred, score)
        if p.task == "multiclass":
            return m.multiclass(weights, y, pred, score, len(p.classes))
        return m.regression(weights, y, pred)
    return compute


def evaluate(candidate: Predictions, baseline: Predictions | None, section: dict[str, Any],
             ctx: GateContext) -> GateResult:
    """Pure part of the gate: arrays in, checks out."""
    boot = ctx.bootstrap(section)
    decide_on = ctx.decide_on(section)
    columns = {"y": candidate.y, **_columns(candidate, "c_")}
    if baseline is not None:
        columns.update(_columns(baseline, "b_"))
    cells = compress(columns)
    compute = metric_function(candidate)

    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        out = {f"c:{k}": v for k, v in compute(weights, cells.columns, "c_").items()}
        if baseline is not None:
            base = compute(weights, cells.columns, "b_")
            out.update({f"b:{k}": v for k, v in base.items()})
            out.update({f"d:{k}": out[f"c:{k}"] - v for k, v in base.items()})
        return out

    point = {k: float(v[0]) for k, v in statistic(cells.counts[None, :]).items()}
    samples = bootstrap(cells, statistic, boot.resamples, boot.seed) if boot.resamples else {}

    def ci(key: str) -> tuple[float, float] | None:
        interval = percentile_interval(samples[key], boot.confidence) if key in samples else None
        return (interval.low, interval.high) if interval else None

    checks: list[Check] = []
    reasons = undefined_reasons(candidate)
    for metric, spec in (section.get("thresholds") or {}).items():
        key = f"c:{metric}"
        if key not in point:
            raise InputError(f"metrics.thresholds.{metric}: not available for task {candidate.task}"
                             + (" without scores" if candidate.score is None else ""))
        check = decide(metric, point[key], ci(key), Threshold.from_policy(spec, decide_on), boot.confidence)
        if check.status is Status.ERROR:
            check.why = f"{metric} is undefined: {reasons.get(metric, 'no valid value on these rows')}"
        checks.append(check)
    if baseline is not None:
        checks += baseline_checks(section, point, ci, boot.confidence, reasons)
    checks += support_checks(candidate)
    if not checks:
        checks.append(Check("thresholds", Status.ERROR, "no metric thresholds or baseline margins are configured: "
                            "nothing was decided"))
    table = metrics_table(point, ci, baseline is not None)
    evidence = {
        "task": candidate.task, "rows": candidate.rows, "classes": [str(c) for c in candidate.classes],
        "bootstrap": {"method": "percentile bootstrap over rows (multinomial over distinct rows)",
                      "paired": baseline is not None, "confidence": boot.confidence,
                      "resamples": boot.resamples, "seed": boot.seed},
        "metrics": {k: v for k, v in point.items()},
        "tables": {"All metrics": table},
    }
    if candidate.task != "regression":
        evidence["confusion_matrix"] = confusion(candidate).tolist()
    summary = {name: round(point[f"c:{name}"], 6) for name in (section.get("thresholds") or {})
               if np.isfinite(point[f"c:{name}"])}
    return GateResult(gate=GATE, checks=checks, evidence=evidence, summary=summary)


def baseline_checks(section: dict[str, Any], point: dict[str, float], ci, confidence: float,
                    reasons: dict[str, str]) -> list[Check]:
    """Non-inferiority: candidate minus baseline must not fall below -margin (or above +margin for losses)."""
    spec = section["baseline"]
    margins = spec.get("margins") or {name: {"absolute": 0.0} for name in (section.get("thresholds") or {})}
    decide_on = spec.get("decide_on", "bound")
    checks = []
    for metric, margin in margins.items():
        if f"d:{metric}" not in point:
            raise InputError(f"metrics.baseline.margins.{metric}: unknown metric for this task "
                             f"(known: {', '.join(sorted(k[2:] for k in point if k.startswith('c:')))})")
        base, cand, diff = point[f"b:{metric}"], point[f"c:{metric}"], point[f"d:{metric}"]
        allowed = margin.get("absolute", margin.get("relative", 0.0) * abs(base))
        lower_is_better = metric in m.LOWER_IS_BETTER
        threshold = Threshold(max=allowed, decide_on=decide_on) if lower_is_better \
            else Threshold(min=-allowed + 0.0, decide_on=decide_on)  # + 0.0: a zero margin shows as 0, not -0
        details = {"candidate": cand, "baseline": base, "difference": diff, "margin": allowed,
                   "margin_kind": "absolute" if "absolute" in margin else "relative",
                   "direction": "lower is better" if lower_is_better else "higher is better"}
        check = decide(f"{metric}_vs_baseline", diff, ci(f"d:{metric}"), threshold, confidence,
                       label=f"{metric} difference (candidate {cand:.4g} - baseline {base:.4g})", details=details)
        if check.status is Status.ERROR:
            check.why = f"{metric} is undefined: {reasons.get(metric, 'no valid value on these rows')}"
        checks.append(check)
    return checks


def undefined_reasons(p: Predictions) -> dict[str, str]:
    """Why a metric has no value on these rows, said in words instead of a NaN."""
    reasons: dict[str, str] = {}
    if p.task == "binary":
        present = np.unique(p.y)
        if present.size < 2:
            only = "positive" if present[0] == 1 else "negative"
            for name in ("roc_auc", "average_precision", "recall", "balanced_accuracy"):
                reasons[name] = f"the labels hold only the {only} class, so {name} has no meaning"
        if p.pred.sum() == 0:
            reasons["precision"] = "the model predicts no positives, so precision has no meaning"
    elif p.task == "multiclass":
        absent = [str(c) for i, c in enumerate(p.classes) if not (p.y == i).any()]
        if absent:
            reasons["roc_auc"] = f"class {', '.join(absent)} has no rows, so one-vs-rest ROC AUC is undefined"
    else:
        if np.ptp(p.y) == 0:
            reasons["r2"] = "the labels are constant, so R2 has no meaning"
        if (p.y == 0).any():
            reasons["mape"] = f"{int((p.y == 0).sum())} labels are 0, so the percentage error is undefined"
    return reasons


def support_checks(p: Predictions) -> list[Check]:
    """A declared class with no rows is not fatal for every metric, but the reader must see it."""
    if p.task != "multiclass":
        return []
    absent = [str(c) for i, c in enumerate(p.classes) if not (p.y == i).any()]
    if not absent:
        return []
    return [Check("class_support", Status.WARN, f"declared class {', '.join(absent)} has no rows in the labels; "
                  "macro averages count it as 0")]


def confusion(p: Predictions) -> np.ndarray:
    size = len(p.classes)
    return np.bincount(p.y.astype(np.int64) * size + p.pred.astype(np.int64), minlength=size * size).reshape(size, size)


def metrics_table(point: dict[str, float], ci, paired: bool) -> str:
    from gates.formats.text import number

    names = [k[2:] for k in point if k.startswith("c:")]
    header = "| metric | candidate | interval |" + (" baseline | difference | interval |" if paired else "")
    lines = [header, "|---" * (6 if paired else 3) + "|"]
    for name in names:
        c_ci = ci(f"c:{name}")
        row = f"| {name} | {number(point[f'c:{name}'])} | {_span(c_ci)} |"
        if paired:
            row += f" {number(point[f'b:{name}'])} | {number(point[f'd:{name}'])} | {_span(ci(f'd:{name}'))} |"
        lines.append(row)
    return "\n".join(lines)


def _span(interval: tuple[float, float] | None) -> str:
    from gates.formats.text import number

    return f"[{number(interval[0])}, {number(interval[1])}]" if interval else ""
