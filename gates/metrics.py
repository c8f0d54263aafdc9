"""Model-metrics gate: metric thresholds with bootstrap intervals, and non-inferiority against the baseline.

The baseline comparison is paired: the candidate and the production model are scored on the same rows and
every resample reweights both by the same draw, so row-to-row difficulty cancels out of the difference
(gates/metrics_baseline.py). When an interval is not to be trusted as it stands (few rows of the rarer
class, a bound within Monte Carlo error of its threshold) gates/metrics_guards.py says so.
The point values and bootstrap samples come from gates/metrics_intervals.py; the curves, tables and
words of the report from gates/metrics_report.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.metrics import MetricsJudging, MetricsSettings
from gates.core.thresholds import Threshold, decide
from gates.metrics_baseline import align, baseline_checks
from gates.metrics_guards import (
    class_counts,
    data_seed,
    guard_class_counts,
    settle,
)
from gates.metrics_intervals import auc_bound, bootstrap_method, point_and_samples, tabulate
from gates.metrics_report import (
    confusion,
    confusion_table,
    metrics_table,
    report_curves,
    support_checks,
    undefined_reasons,
)
from gates.readers.predictions import Predictions, TabulatedPredictions, load_predictions
from gates.stats.bootstrap import (
    percentile_interval,
)

__all__ = ["GATE", "confusion_table", "evaluate", "point_and_samples", "report_curves", "run"]

GATE = "metrics"


def run(section: MetricsSettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = MetricsSettings.of(section)
    spec = settings.baseline
    join_on = _join_on(settings)
    given = settings.reader_spec()  # the readers and engines still take the policy's mapping
    from gates.engine import choose, shared
    from gates.engine import local as streaming

    tabulated = choose.binary_cells(given, ctx, "metrics")  # DuckDB or Spark; None: read here
    if tabulated is not None:
        return _tabulated(tabulated, settings, ctx)
    with choose.fetched(ctx) as local:  # object storage: the local engine reads a copy of the one object
        path = local(settings.predictions)
        if streaming.wanted(given, path):  # too large for memory: cells, chunk by chunk
            return _tabulated(streaming.tabulate(path, given, where="metrics"), settings, ctx)
        pair = shared.current()  # in `mlgate run` with the bias gate: read its sensitive columns too, once
        extra = pair.local_extra(given, path) if pair is not None and spec is None else []
        candidate = load_predictions(path, _with_id(given, join_on), extra_columns=extra)
        if pair is not None and extra:
            pair.keep_local(path, candidate)
        baseline = None
        if spec:
            columns = spec.columns if spec.columns is not None else settings.columns
            base_given = {**given, "columns": columns.given() if columns else {}}
            baseline = load_predictions(local(spec.predictions), _with_id(base_given, join_on))
            candidate, baseline = align(candidate, baseline, join_on)
    result = evaluate(candidate, baseline, settings, ctx)
    result.evidence.update(report_curves(candidate, baseline, result.evidence.pop("_cells", None)))
    return result


def _tabulated(tabulated: TabulatedPredictions, settings: MetricsSettings, ctx: GateContext) -> GateResult:
    """The gate on cells an engine (or the chunked local reading) computed: no baseline, curves from cells."""
    result = evaluate(tabulated, None, settings, ctx)
    result.evidence.update(report_curves(tabulated, None, {"candidate": tabulated.cells}))
    return result


def _join_on(settings: MetricsSettings) -> str | None:
    """The baseline's join column: baseline.join_on when set (null: by row order), else columns.id."""
    spec = settings.baseline
    if spec is None:
        return None
    if "join_on" in spec.model_fields_set:
        return spec.join_on
    return settings.columns.id if settings.columns else None


def _with_id(section: dict[str, Any], join_on: str | None) -> dict[str, Any]:
    """The join column is the id column of both files, whether or not columns.id names it too."""
    if not join_on:
        return section
    return {**section, "columns": {**(section.get("columns") or {}), "id": join_on}}


def evaluate(
    candidate: Predictions | TabulatedPredictions,
    baseline: Predictions | None,
    section: MetricsJudging | Mapping[str, Any],
    ctx: GateContext,
) -> GateResult:
    """Pure part of the gate: arrays in, checks out."""
    settings = MetricsJudging.part(section, "metrics")
    boot = ctx.bootstrap(settings)
    decide_on = ctx.decide_on(settings)
    exact = {"c_": tabulate(candidate)} if candidate.task == "binary" else {}
    point, samples, method = point_and_samples(candidate, baseline, boot.resamples, boot.seed, exact)
    reasons = undefined_reasons(candidate, exact.get("c_"))
    floor = settings.min_class_rows
    labels = class_counts(candidate, exact.get("c_"))

    def ci(key: str) -> tuple[float, float] | None:
        interval = percentile_interval(samples[key], boot.confidence) if key in samples else None
        return (interval.low, interval.high) if interval else None

    def judge() -> list[tuple[Check, str, Threshold]]:
        """Every threshold and baseline check, with the samples key and threshold its bound is read against."""
        judged: list[tuple[Check, str, Threshold]] = []
        for metric, spec in settings.limits().items():
            key = f"c:{metric}"
            if key not in point:
                raise InputError(
                    f"metrics.thresholds.{metric}: not available for task {candidate.task}"
                    + (" without scores" if candidate.score is None else "")
                )
            threshold = Threshold(min=spec.min, max=spec.max, decide_on=spec.decide_on or decide_on)
            check = decide(metric, point[key], ci(key), threshold, boot.confidence)
            if check.status is Status.ERROR:
                check.why = f"{metric} is undefined: {reasons.get(metric, 'no valid value on these rows')}"
            else:
                guard_class_counts(check, metric, labels, floor, threshold.decide_on)
            judged.append((check, key, threshold))
        if baseline is not None and settings.baseline is not None:
            base_decide_on = settings.baseline.decide_on
            for check, threshold in baseline_checks(settings, point, ci, boot.confidence, reasons, samples):
                metric = check.name.removesuffix("_vs_baseline")
                if check.status is not Status.ERROR:
                    guard_class_counts(check, metric, labels, floor, base_decide_on)
                judged.append((check, f"d:{metric}", threshold))
        return judged

    # Too close to call: a bound within Monte Carlo error of its threshold would follow the seed; resampled
    # from a seed fixed by the data until clear, or a warning at the cap (gates/metrics_guards.settle).
    def draw(count: int, seed: int) -> dict[str, np.ndarray]:
        return point_and_samples(candidate, baseline, count, seed, exact)[1]

    judged, total = settle(judge, draw, samples, boot.resamples, boot.confidence, data_seed(point))
    method["resamples_used"] = total
    checks = [c for c, _, _ in judged]
    checks += support_checks(candidate)
    if not checks:
        checks.append(
            Check(
                "thresholds",
                Status.ERROR,
                "no metric thresholds or baseline margins are configured: nothing was decided",
            )
        )
    table = metrics_table(point, ci, baseline is not None)
    evidence: dict[str, Any] = {
        "task": candidate.task,
        "rows": candidate.rows,
        "classes": [str(c) for c in candidate.classes],
        "bootstrap": {
            "method": bootstrap_method(method),
            "paired": baseline is not None,
            "confidence": boot.confidence,
            "resamples": boot.resamples,
            "seed": boot.seed,
            **method,
        },
        "metrics": {k: v for k, v in point.items()},
        "tables": {"All metrics": table},
    }
    if candidate.task != "regression":
        matrix = confusion(candidate, exact.get("c_"))
        evidence["confusion_matrix"] = matrix.tolist()
        evidence["tables"]["Confusion matrix"] = confusion_table(matrix, candidate.classes)
    if isinstance(candidate, TabulatedPredictions):
        evidence["streaming"] = candidate.streaming
        if not candidate.streaming.get("exact", True) and "score" in exact["c_"].columns:
            cells = exact["c_"]
            bound = auc_bound(cells.counts, cells.columns["y"], cells.columns["score"])
            evidence["streaming"]["roc_auc_bound"] = bound
            evidence["streaming"]["note"] = (
                f"scores were merged onto a {candidate.streaming['score_grid']} grid "
                f"to bound memory: ROC AUC and average precision are those of the "
                f"grid scores (ROC AUC within {bound:.2g} of the exact value); counts "
                f"and losses are exact"
            )
    elif candidate.task == "binary":
        evidence["_cells"] = {"candidate": exact["c_"]}  # for the curves; removed by run()
    summary = {
        name: round(point[f"c:{name}"], 6) for name in settings.limits() if np.isfinite(point[f"c:{name}"])
    }
    return GateResult(gate=GATE, checks=checks, evidence=evidence, summary=summary)
