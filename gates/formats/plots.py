"""Pictures for the reports: PNGs written to the report folder, their paths put in GateResult.artifacts.

matplotlib is imported only when a picture is drawn, with the Agg backend (no display needed). Pictures are
evidence for a reader, never part of a verdict: when matplotlib is missing, or MLGATE_PLOTS=0, no picture is
drawn and nothing else changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_BLUE, _ORANGE, _GREY, _RED = "#4c72b0", "#dd8452", "#8c8c8c", "#c44e52"


def enabled() -> bool:
    return os.environ.get("MLGATE_PLOTS", "1").strip().lower() not in ("0", "false", "no", "off")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "plot"


def _save(fig: Any, report_dir: Path, name: str) -> str:
    plt = _pyplot()
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"{slug(name)}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def _safely(draw) -> dict[str, str]:
    """Run a drawing function; a missing matplotlib means no pictures, not a failed gate."""
    if not enabled():
        return {}
    try:
        return draw()
    except ImportError:
        return {}


# ------------------------------------------------------------------------------------------------- bias
def group_bars(
    report_dir: Path,
    name: str,
    title: str,
    groups: Sequence[str],
    values: Sequence[float],
    intervals: Sequence[tuple[float, float] | None],
    judged: Sequence[bool],
    lines: Sequence[tuple[float, str]] = (),
    overall: float | None = None,
) -> dict[str, str]:
    """Per-group bars with their intervals; excluded groups hatched; threshold lines dashed in red."""

    def draw() -> dict[str, str]:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(groups) + 2.5), 3.8))
        x = np.arange(len(groups))
        heights = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
        colours = [_BLUE if j else _GREY for j in judged]
        bars = ax.bar(x, heights, color=colours)
        for bar, ok, value in zip(bars, judged, values):
            if not ok:
                bar.set_hatch("//")
            if value is None or not np.isfinite(value):
                ax.annotate(
                    "undefined",
                    (bar.get_x() + bar.get_width() / 2, 0),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    rotation=90,
                )
        low = [v - i[0] if i and np.isfinite(v) else 0 for v, i in zip(heights, intervals)]
        high = [i[1] - v if i and np.isfinite(v) else 0 for v, i in zip(heights, intervals)]
        ax.errorbar(
            x,
            heights,
            yerr=[np.maximum(low, 0), np.maximum(high, 0)],
            fmt="none",
            ecolor="black",
            capsize=4,
            linewidth=1,
        )
        if overall is not None and np.isfinite(overall):
            ax.axhline(overall, color=_GREY, linestyle=":", linewidth=1, label=f"overall {overall:.3g}")
        for level, label in lines:
            if np.isfinite(level):
                ax.axhline(level, color=_RED, linestyle="--", linewidth=1.2, label=label)
        ax.set_xticks(
            x,
            list(groups),
            rotation=30 if len(groups) > 4 else 0,
            ha="right" if len(groups) > 4 else "center",
        )
        ax.set_title(title, fontsize=10)
        if lines or overall is not None:
            ax.legend(fontsize=8, loc="best")
        ax.set_ylim(bottom=0)
        return {title: _save(fig, report_dir, name)}

    return _safely(draw)


# ------------------------------------------------------------------------------------------------ drift
def drift_histograms(columns: Sequence[Any], report_dir: Path, limit: int = 12) -> dict[str, str]:
    """Reference vs current histograms of the drifted columns, one panel each, in one picture.

    `columns` are gates.stats.drift.ColumnDrift results carrying `.plot` data; one figure (not one per column)
    keeps the cost of drawing flat, which matters when many columns of a large table drift.
    """
    chosen = [c for c in columns if getattr(c, "plot", None)][:limit]
    if not chosen:
        return {}

    def draw() -> dict[str, str]:
        plt = _pyplot()
        per_row = min(3, len(chosen))
        rows = (len(chosen) + per_row - 1) // per_row
        fig, axes = plt.subplots(rows, per_row, figsize=(4.6 * per_row, 3.2 * rows), squeeze=False)
        for ax, column in zip(axes.flat, chosen):
            _drift_panel(ax, column)
        for ax in list(axes.flat)[len(chosen) :]:
            ax.set_visible(False)
        more = len([c for c in columns if getattr(c, "plot", None)]) - len(chosen)
        title = "Drifted columns: reference vs current" + (
            f" (first {len(chosen)}; {more} more)" if more else ""
        )
        fig.suptitle(title, fontsize=11)
        return {title: _save(fig, report_dir, "drift-histograms")}

    return _safely(draw)


def _drift_panel(ax: Any, column: Any) -> None:
    data = column.plot
    if data["kind"] == "numeric":
        edges = np.asarray(data["edges"])
        ax.stairs(data["reference"], edges, fill=True, color=_BLUE, alpha=0.45, label="reference")
        ax.stairs(data["current"], edges, fill=True, color=_ORANGE, alpha=0.45, label="current")
        ax.set_ylabel("density", fontsize=8)
    else:
        names = [str(c) for c in data["categories"]]
        x = np.arange(len(names))
        ax.bar(x - 0.2, data["reference"], width=0.4, color=_BLUE, label="reference")
        ax.bar(x + 0.2, data["current"], width=0.4, color=_ORANGE, label="current")
        ax.set_xticks(
            x, names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center"
        )
        ax.set_ylabel("share", fontsize=8)
    ax.tick_params(labelsize=7)
    statistic = f"{column.statistic:.3g}" if column.statistic is not None else "–"
    ax.set_title(
        f"{column.column}: {column.test} {statistic} (threshold {column.threshold:g})"
        if column.test
        else column.column,
        fontsize=9,
    )
    ax.legend(fontsize=7)


# ---------------------------------------------------------------------------------------------- metrics
def metric_curves(
    candidate: Any, baseline: Any, report_dir: Path, cells: dict[str, Any] | None = None
) -> dict[str, str]:
    """ROC and precision-recall curves of the candidate (and the baseline) for a binary task with scores.

    The curves come from the exact cells (gates.stats.bootstrap.binary_cells: distinct scores with their label counts),
    thinned to at most CURVE_POINTS points per curve, so drawing costs the same at ten million rows as at ten
    thousand and needs no scikit-learn.
    """
    if getattr(candidate, "task", None) != "binary" or candidate.score is None or not enabled():
        return {}
    cells = dict(cells or {})
    models = [("candidate", candidate, _BLUE)]
    if baseline is not None and baseline.score is not None:
        models.append(("baseline", baseline, _ORANGE))
    curves = {}
    for label, p, colour in models:
        if label not in cells:
            from gates.stats.bootstrap import binary_cells

            cells[label] = binary_cells(p.y, p.pred, p.score)
        curve = curve_points(cells[label])
        if curve is None:
            return {}  # one class only: no curve
        curves[label] = (curve, colour)

    def draw() -> dict[str, str]:
        plt = _pyplot()
        out: dict[str, str] = {}
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        for label, (c, colour) in curves.items():
            ax.plot(c["fpr"], c["tpr"], color=colour, label=f"{label} (AUC {c['auc']:.3f})")
        ax.plot([0, 1], [0, 1], color=_GREY, linestyle=":", linewidth=1)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title("ROC curve", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        out["ROC curve"] = _save(fig, report_dir, "metrics-roc")
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        for label, (c, colour) in curves.items():
            ax.step(c["recall"], c["precision"], where="post", color=colour, label=label)
        ax.axhline(
            curves["candidate"][0]["base_rate"], color=_GREY, linestyle=":", linewidth=1, label="base rate"
        )
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("Precision-recall curve", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        out["Precision-recall curve"] = _save(fig, report_dir, "metrics-precision-recall")
        return out

    return _safely(draw)


CURVE_POINTS = 2000


def curve_points(cells: Any, limit: int = CURVE_POINTS) -> dict[str, Any] | None:
    """ROC (fpr, tpr, trapezoid AUC) and precision-recall points from binary cells, thresholds from the highest
    score down (as scikit-learn's roc_curve and precision_recall_curve); None with one class only."""
    score = np.asarray(cells.columns["score"], dtype=np.float64)
    positive = np.asarray(cells.columns["y"]).astype(bool)
    ascending = score.size < 2 or bool(np.all(score[1:] >= score[:-1]))
    order = np.arange(score.size)[::-1] if ascending else np.argsort(-score, kind="stable")  # highest first
    s = score[order]
    starts = (
        np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1]))) if s.size else np.zeros(0, dtype=np.int64)
    )
    w = cells.counts[order]
    tp = np.cumsum(np.add.reduceat(np.where(positive[order], w, 0.0), starts)) if s.size else np.zeros(0)
    fp = np.cumsum(np.add.reduceat(w, starts)) - tp if s.size else np.zeros(0)
    if not s.size or tp[-1] == 0 or fp[-1] == 0:
        return None
    tpr = np.concatenate(([0.0], tp / tp[-1]))
    fpr = np.concatenate(([0.0], fp / fp[-1]))
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    precision = np.concatenate(([1.0], tp / (tp + fp)))
    recall = tpr
    if tpr.size > limit:  # keep the first and last points and an even spread in between
        keep = np.unique(np.linspace(0, tpr.size - 1, limit).round().astype(np.int64))
        tpr, fpr, precision, recall = tpr[keep], fpr[keep], precision[keep], recall[keep]
    return {
        "fpr": fpr,
        "tpr": tpr,
        "auc": auc,
        "precision": precision,
        "recall": recall,
        "base_rate": float(tp[-1] / (tp[-1] + fp[-1])),
    }


def canary_timeline(analyses: list[dict[str, Any]], metrics: list[Any], path: Path) -> Path | None:
    """One panel per metric: canary and stable values over time (range points and step values), thresholds."""
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    steps: list[tuple[float, int]] = []
    for entry in analyses:
        steps.append((entry["at"], entry.get("weight") or 0))
        for m in entry.get("measurements", []):
            side = m["side"]
            bucket = series.setdefault(m["metric"], {})
            if m["kind"] == "range":
                bucket.setdefault(side, []).extend((t, v) for t, v in m["points"])
            elif m.get("value") is not None:
                bucket.setdefault(f"{side} (step)", []).append((entry["at"], m["value"]))
    names = [s.name for s in metrics if s.name in series]
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(t for entry in series.values() for pts in entry.values() for t, _ in pts)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True, squeeze=False)
    by_name = {s.name: s for s in metrics}
    colours = {"canary": "tab:orange", "stable": "tab:blue", "pair": "tab:purple"}
    for ax, name in zip(axes[:, 0], names):
        for label, pts in sorted(series[name].items()):
            pts = sorted(pts)
            xs, ys = [t - t0 for t, _ in pts], [v for _, v in pts]
            side = label.split()[0]
            if label.endswith("(step)"):
                ax.plot(xs, ys, "o", color=colours.get(side, "k"), label=label, markersize=5)
            else:
                ax.plot(xs, ys, "-", color=colours.get(side, "k"), label=label, linewidth=1)
        spec = by_name[name]
        for bound, style in ((spec.max, "--"), (spec.min, ":")):
            if bound is not None:
                ax.axhline(
                    bound,
                    color="tab:red",
                    linestyle=style,
                    linewidth=1,
                    label=f"{'max' if style == '--' else 'min'} {bound:g}",
                )
        for at, weight in steps:
            ax.axvline(at - t0, color="0.85", linewidth=0.8)
        ax.set_ylabel(name, fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    axes[-1, 0].set_xlabel("seconds since the first analysis window (grey lines: analyses)")
    fig.suptitle("canary analysis timeline", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
