"""Model-metrics gate: metric thresholds with bootstrap intervals, and non-inferiority against the baseline.

The baseline comparison is paired: the candidate and the production model are scored on the same rows and
every resample reweights both by the same draw, so row-to-row difficulty cancels out of the difference
(gates/metrics_baseline.py). When an interval is not to be trusted as it stands (few rows of the rarer
class, a bound within Monte Carlo error of its threshold) gates/metrics_guards.py says so.
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
    studentized_samples,
)
from gates.readers.predictions import Predictions, TabulatedPredictions, load_predictions
from gates.stats import curves
from gates.stats import metrics as m
from gates.stats.bootstrap import (
    BOOTSTRAP_BINS,
    EXACT_CELLS,
    Cells,
    binary_cells,
    bootstrap,
    coarsen,
    coarsen_edges,
    compress,
    percentile_interval,
)

GATE = "metrics"


def run(section: MetricsSettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = MetricsSettings.of(section)
    spec = settings.baseline
    join_on = _join_on(settings)
    given = settings.reader_spec()  # the readers and engines still take the policy's mapping
    from gates.engine import choose
    from gates.engine import local as streaming

    tabulated = choose.binary_cells(given, ctx, "metrics")  # DuckDB or Spark; None: read here
    path = ctx.path(settings.predictions) if tabulated is None else tabulated.path
    if tabulated is None and streaming.wanted(given, path):  # too large for memory: cells, chunk by chunk
        tabulated = streaming.tabulate(path, given, where="metrics")
    if tabulated is not None:
        result = evaluate(tabulated, None, settings, ctx)
        result.evidence.update(report_curves(tabulated, None, {"candidate": tabulated.cells}))
        return result
    candidate = load_predictions(path, _with_id(given, join_on))
    baseline = None
    if spec:
        columns = spec.columns if spec.columns is not None else settings.columns
        base_given = {**given, "columns": columns.given() if columns else {}}
        baseline = load_predictions(ctx.path(spec.predictions), _with_id(base_given, join_on))
        candidate, baseline = align(candidate, baseline, join_on)
    result = evaluate(candidate, baseline, settings, ctx)
    result.evidence.update(report_curves(candidate, baseline, result.evidence.pop("_cells", None)))
    return result


def report_curves(
    candidate: Predictions | TabulatedPredictions, baseline: Predictions | None, cells: dict[str, Any] | None
) -> dict[str, Any]:
    """{"curves": ROC, precision-recall and calibration points per model} for a binary task with scores (the
    reports draw them), from the exact cells the evaluation kept, else cells built here; {} otherwise."""
    if candidate.task != "binary" or candidate.score is None:
        return {}
    cells = dict(cells or {})
    models: dict[str, Any] = {"candidate": candidate}
    if baseline is not None and baseline.score is not None:
        models["baseline"] = baseline
    for label, p in models.items():
        if label not in cells:
            cells[label] = binary_cells(p.y, p.pred, p.score)
    drawn = curves.report_curves({label: cells[label] for label in models})
    return {"curves": drawn} if drawn else {}


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


def _columns(p: Predictions, prefix: str) -> dict[str, np.ndarray]:
    cols = {f"{prefix}pred": p.pred}
    if p.score is not None:
        cols[f"{prefix}score"] = p.score
    return cols


def metric_function(p: Predictions | TabulatedPredictions):
    """The vectorised metric function for this task, reading columns with the given prefix from cells."""

    def compute(weights: np.ndarray, columns: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
        y, pred, score = columns["y"], columns[f"{prefix}pred"], columns.get(f"{prefix}score")
        if p.task == "binary":
            losses = (
                {k: columns[f"{prefix}{k}"] for k in ("log_loss", "brier")}
                if f"{prefix}log_loss" in columns
                else None
            )
            return m.binary(weights, y, pred, score, losses)
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
    for prefix, p in models.items():
        cells = exact.setdefault(prefix, tabulate(p))
        columns = _prefixed(cells.columns, prefix)
        if "log_loss" in cells.columns:  # streamed cells on a score grid carry the exact mean losses
            losses[prefix] = {k: cells.columns[k] for k in ("log_loss", "brier")}
        elif p.score is not None:  # per-cell losses once, for the point value and for the coarse cells
            losses[prefix] = m.binary_losses(cells.columns["y"], cells.columns["score"])
            columns.update({f"{prefix}{k}": v for k, v in losses[prefix].items()})
        values = compute(cells.counts[None, :], columns, prefix)
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
            cells, binning = coarsen(cells, sums=losses["c_"])
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
            f"{prefix[0]}:roc_auc": _auc_bound(cells.counts, columns["y"], columns[f"{prefix}score"])
            for prefix in models
            if f"{prefix}score" in columns
        }
    samples.update(studentized_samples(exact["c_"], resamples, seed))
    return point, samples, info


def _prefixed(columns: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {("y" if k == "y" else f"{prefix}{k}"): v for k, v in columns.items()}


def _auc_bound(counts: np.ndarray, y: np.ndarray, level: np.ndarray) -> float:
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
            bound = _auc_bound(cells.counts, cells.columns["y"], cells.columns["score"])
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


def undefined_reasons(p: Predictions | TabulatedPredictions, cells: Cells | None = None) -> dict[str, str]:
    """Why a metric has no value on these rows, said in words instead of a NaN."""
    reasons: dict[str, str] = {}
    if p.task == "binary":
        if cells is None:
            cells = tabulate(p)
        labels = np.bincount(cells.columns["y"].astype(np.int64), weights=cells.counts, minlength=2)
        present = np.flatnonzero(labels)
        if present.size < 2:
            only = "positive" if present[0] == 1 else "negative"
            for name in ("roc_auc", "average_precision", "recall", "balanced_accuracy"):
                reasons[name] = f"the labels hold only the {only} class, so {name} has no meaning"
        if float(cells.counts @ cells.columns["pred"]) == 0:
            reasons["precision"] = "the model predicts no positives, so precision has no meaning"
    elif isinstance(p, TabulatedPredictions):  # always binary: nothing more to say
        pass
    elif p.task == "multiclass":
        absent = [str(c) for i, c in enumerate(p.classes) if not (p.y == i).any()]
        if absent:
            one = len(absent) == 1
            which = f"{'class' if one else 'classes'} {', '.join(absent)} {'has' if one else 'have'} no rows"
            reasons["roc_auc"] = f"{which}, so one-vs-rest ROC AUC is undefined"
            reasons["average_precision"] = f"{which}, so one-vs-rest average precision is undefined"
    else:
        if np.ptp(p.y) == 0:
            reasons["r2"] = "the labels are constant, so R2 has no meaning"
        zeros = int((p.y == 0).sum())
        if zeros:
            reasons["mape"] = (
                f"{_plural(zeros, 'label is', 'labels are')} 0, so the percentage error is undefined"
            )
    return reasons


def support_checks(p: Predictions | TabulatedPredictions) -> list[Check]:
    """A declared class with no rows is not fatal for every metric, but the reader must see it."""
    if not isinstance(p, Predictions) or p.task != "multiclass":
        return []
    absent = [str(c) for i, c in enumerate(p.classes) if not (p.y == i).any()]
    if not absent:
        return []
    one = len(absent) == 1
    return [
        Check(
            "class_support",
            Status.WARN,
            f"declared {'class' if one else 'classes'} {', '.join(absent)} "
            f"{'has' if one else 'have'} no rows in the labels; macro averages count "
            f"{'it' if one else 'them'} as 0",
        )
    ]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def confusion(p: Predictions | TabulatedPredictions, cells: Cells | None = None) -> np.ndarray:
    size = len(p.classes)
    if cells is None:
        if isinstance(p, Predictions):
            return np.bincount(
                p.y.astype(np.int64) * size + p.pred.astype(np.int64), minlength=size * size
            ).reshape(size, size)
        cells = p.cells
    # binary: from the cells' counts
    code = cells.columns["y"].astype(np.int64) * size + cells.columns["pred"].astype(np.int64)
    return (
        np.rint(np.bincount(code, weights=cells.counts, minlength=size * size))
        .astype(np.int64)
        .reshape(size, size)
    )


CONFUSION_CLASSES = (
    20  # most classes drawn as a table in the summary; the JSON evidence always has the matrix
)


def confusion_table(matrix: np.ndarray, classes: list) -> str:
    """The confusion matrix as a Markdown table: a row per true class, a column per predicted class (the
    layout of sklearn.metrics.confusion_matrix with labels=classes)."""
    names = [str(c).replace("|", "\\|").replace("\n", " ") for c in classes]
    if len(names) > CONFUSION_CLASSES:
        return (
            f"{len(names)} classes: too many for a table here; the JSON report's evidence.confusion_matrix "
            f"holds it (rows: true class, columns: predicted class, in the order of evidence.classes)"
        )
    lines = ["| true ↓ predicted → | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, matrix.tolist()):
        lines.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(lines)


def metrics_table(point: dict[str, float], ci, paired: bool) -> str:
    from gates.core.numbers import number

    names = [k[2:] for k in point if k.startswith("c:")]
    header = "| metric | candidate | interval |" + (" baseline | difference | interval |" if paired else "")
    lines = [header, "|---" * (6 if paired else 3) + "|"]
    for name in names:
        c_ci = ci(f"c:{name}")
        row = f"| {name} | {number(point[f'c:{name}'])} | {_span(c_ci)} |"
        if paired:
            row += (
                f" {number(point[f'b:{name}'])} | {number(point[f'd:{name}'])} | {_span(ci(f'd:{name}'))} |"
            )
        lines.append(row)
    return "\n".join(lines)


def _span(interval: tuple[float, float] | None) -> str:
    from gates.core.numbers import number

    return f"[{number(interval[0])}, {number(interval[1])}]" if interval else ""
