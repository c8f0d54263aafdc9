"""What the metrics gate's report shows beside its checks: ROC, precision-recall and calibration curves, the
confusion matrix, the metrics table, and why a metric has no value on these rows (in words, not a NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gates.core.result import Check, Status
from gates.metrics_intervals import tabulate
from gates.readers.predictions import Predictions, TabulatedPredictions
from gates.stats import curves
from gates.stats.bootstrap import (
    Cells,
    binary_cells,
)


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
