"""What each gate's report shows as a chart: data series read from a gate's JSON form, independent of drawing.

The gates put numbers in their evidence (per-group values with intervals, ROC and calibration points, drift
histograms, every canary analysis with its sequential bounds); this module turns them into one chart shape that
two renderers draw: inline SVG in the HTML report (gates.formats.svg) and Mermaid xychart in the job summary
(gates.formats.mermaid). It reads the dict form (GateResult.to_dict, i.e. the JSON report), so a report read back
from disk draws the same charts; missing or malformed evidence gives no chart, never an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MAX_CHARTS = 24  # per gate: a report stays readable and small
CANARY_ANALYSES = 40  # the last analyses drawn on a canary timeline
DRIFT_COLUMNS = 40  # columns on the drift-distance bar chart (the most drifted first)


@dataclass
class Series:
    """One named line, set of points, bars or staircase.

    Categorical charts place ys on the chart's categories; numeric charts give each series its own `xs` (for
    stairs: the bin edges, one more than the ys). `low`/`high` hold an interval per point (whiskers or a band)."""

    name: str
    ys: list[float | None]
    xs: list[float] | None = None
    low: list[float | None] | None = None
    high: list[float | None] | None = None
    style: str = "line"  # line, points, bars, stairs, band


@dataclass
class Rule:
    """A horizontal line: a threshold (`limit`) or a reference level such as the overall value (`reference`)."""

    value: float
    label: str
    kind: str = "limit"


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    categories: list[str] = field(default_factory=list)  # empty: a numeric x axis
    rules: list[Rule] = field(default_factory=list)
    muted: list[bool] = field(default_factory=list)  # per category: shown but not judged (bars hatched)
    diagonal: bool = False  # ROC and calibration: the y = x reference on the unit square
    y_range: tuple[float, float] | None = None
    note: str = ""

    @property
    def categorical(self) -> bool:
        return bool(self.categories)


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (null, NaN, text, booleans)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _numbers(values: Any) -> list[float | None]:
    return [number(v) for v in values] if isinstance(values, list) else []


def charts(gate: dict[str, Any]) -> list[Chart]:
    """Every chart one gate's report shows, in reading order (at most MAX_CHARTS)."""
    evidence = gate.get("evidence")
    if not isinstance(evidence, dict):
        return []
    out: list[Chart] = []
    for build in (_group_bars, _curves, _drift_histograms, _drift_distances, _canary):
        try:
            out += build(evidence)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError):
            continue  # a chart never breaks a report: malformed evidence just draws nothing
    return out[:MAX_CHARTS]


# ------------------------------------------------------------------------------------------------- bias
def _group_bars(evidence: dict[str, Any]) -> list[Chart]:
    out = []
    for spec in evidence.get("group_charts") or []:
        groups = spec["groups"]
        rules = [
            Rule(value, str(line.get("label") or ""))
            for line in spec.get("lines") or []
            if (value := number(line.get("level"))) is not None
        ]
        overall = number(spec.get("overall"))
        if overall is not None:
            rules.append(Rule(overall, f"overall {overall:.3g}", "reference"))
        intervals = [g.get("ci") or [None, None] for g in groups]
        metric = str(spec.get("metric", "value"))
        out.append(
            Chart(
                title=str(spec["title"]),
                x_label=str(spec.get("by", "group")),
                y_label=metric,
                categories=[str(g["group"]) for g in groups],
                series=[
                    Series(
                        metric,
                        [number(g.get("value")) for g in groups],
                        low=[number(c[0]) for c in intervals],
                        high=[number(c[1]) for c in intervals],
                        style="bars",
                    )
                ],
                rules=rules,
                muted=[not g.get("judged", True) for g in groups],
                note="whiskers: intervals; hatched: reported, not judged (too few rows)",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- metrics
def _curves(evidence: dict[str, Any]) -> list[Chart]:
    models = evidence.get("curves")
    if not isinstance(models, dict) or not models:
        return []
    roc = Chart("ROC curve", "false positive rate", "true positive rate", [], diagonal=True, y_range=(0, 1))
    pr = Chart("Precision-recall curve", "recall", "precision", [], y_range=(0, 1))
    for name, model in models.items():
        curve = model["roc"]
        fpr, tpr = _numbers(curve["fpr"]), _numbers(curve["tpr"])
        roc.series.append(Series(f"{name} (AUC {curve['auc']:.3f})", tpr, xs=[x or 0.0 for x in fpr]))
        pr.series.append(
            Series(name, _numbers(curve["precision"]), xs=[x or 0.0 for x in tpr], style="stairs-post")
        )
    out = [roc]
    calibrated = {name: m["calibration"] for name, m in models.items() if m.get("calibration")}
    if calibrated:
        chart = Chart(
            "Calibration (reliability)",
            "mean predicted probability",
            "observed share of positives",
            [],
            diagonal=True,
            y_range=(0, 1),
            note="one point per score bin; whiskers: Wilson intervals",
        )
        for name, bins in calibrated.items():
            chart.series.append(
                Series(
                    name,
                    [number(b["observed"]) for b in bins],
                    xs=[number(b["predicted"]) or 0.0 for b in bins],
                    low=[number((b.get("ci") or [None])[0]) for b in bins],
                    high=[number((b.get("ci") or [None, None])[1]) for b in bins],
                    style="points-line",
                )
            )
        out.append(chart)
    return out + [pr]


# ------------------------------------------------------------------------------------------------ drift
def _drift_histograms(evidence: dict[str, Any]) -> list[Chart]:
    out = []
    for h in evidence.get("histograms") or []:
        column = str(h["column"])
        reference, current = _numbers(h["reference"]), _numbers(h["current"])
        if h.get("kind") == "numeric":
            edges = [number(e) or 0.0 for e in h["edges"]]
            out.append(
                Chart(
                    f"{column}: reference vs current",
                    column,
                    "density",
                    [
                        Series("reference", reference, xs=edges, style="stairs"),
                        Series("current", current, xs=edges, style="stairs"),
                    ],
                )
            )
        else:
            out.append(
                Chart(
                    f"{column}: reference vs current",
                    column,
                    "share",
                    [Series("reference", reference, style="bars"), Series("current", current, style="bars")],
                    categories=[str(c) for c in h["categories"]],
                )
            )
    return out


def _drift_distances(evidence: dict[str, Any]) -> list[Chart]:
    """Each column's distance as a share of its tolerance (1 = the tolerance): how close every column came."""
    columns = [c for c in evidence.get("columns") or [] if isinstance(c, dict)]
    scored = []
    for c in columns:
        distance, tolerance = number(c.get("distance_value")), number(c.get("tolerance"))
        if distance is not None and tolerance:
            scored.append((str(c.get("column")), distance / tolerance, bool(c.get("drifted"))))
    if not scored:
        return []
    scored.sort(key=lambda item: -item[1])
    shown = scored[:DRIFT_COLUMNS]
    more = f" (the {len(shown)} largest of {len(scored)})" if len(scored) > len(shown) else ""
    return [
        Chart(
            "Distance per column, as a share of its tolerance" + more,
            "column",
            "distance / tolerance",
            [Series("distance / tolerance", [s for _, s, _ in shown], style="bars")],
            categories=[name for name, _, _ in shown],
            rules=[Rule(1.0, "tolerance")],
            note="a column drifts when its test is significant and its distance exceeds the tolerance "
            f"({sum(d for _, _, d in scored)} drifted)",
        )
    ]


# ----------------------------------------------------------------------------------------------- canary
def _canary(evidence: dict[str, Any]) -> list[Chart]:
    analyses = [a for a in evidence.get("analyses") or [] if isinstance(a, dict)][-CANARY_ANALYSES:]
    if not analyses:
        return []
    specs = {m["name"]: m for m in (evidence.get("canary") or {}).get("metrics") or [] if isinstance(m, dict)}
    labels = [f"{a.get('step', '?')}: {_weight(a)}" for a in analyses]
    names = list(specs) or sorted(
        {m.get("metric") for a in analyses for m in _verdicts(a) if m.get("metric")}
    )
    out = []
    for name in names:
        spec = specs.get(name, {})
        canary = [_side_value(a, name, "canary", spec.get("kind")) for a in analyses]
        stable = [_side_value(a, name, "stable", spec.get("kind")) for a in analyses]
        if any(v is not None for v in canary + stable):
            rules = [
                Rule(value, f"{bound} {value:g}")
                for bound in ("max", "min")
                if (value := number(spec.get(bound))) is not None
            ]
            out.append(
                Chart(
                    f"{name}: canary and stable per analysis",
                    "analysis (step: traffic weight)",
                    name,
                    [
                        Series("canary", canary, style="points-line"),
                        Series("stable", stable, style="points-line"),
                    ],
                    categories=labels,
                    rules=rules,
                )
            )
        looks = [_sequential(a, name) for a in analyses]
        for lower, upper, title in BOUNDS:
            if any((look or {}).get("look", {}).get(lower) is not None for look in looks):
                out.append(_bounds_chart(name, title, labels, looks, (lower, upper), spec))
    return out


# (lower key, upper key, what they bound) in the sequential judge's record of each look (details.look)
BOUNDS = (
    ("ratio_lower", "ratio_upper", "canary/stable ratio"),
    ("rate_lower", "rate_upper", "canary rate"),
    ("quantile_lower", "quantile_upper", "canary quantile"),
)


def _bounds_chart(
    name: str,
    title: str,
    labels: list[str],
    looks: list[dict[str, Any] | None],
    keys: tuple[str, str],
    spec: dict[str, Any],
) -> Chart:
    """The anytime-valid bounds at every look of the sequential judge (valid over all looks at once): a
    regression is certain once the band clears the regression line, excluded once it stays below the margin."""
    records = [(look or {}).get("look", {}) for look in looks]
    lower = [number(r.get(keys[0])) for r in records]
    upper = [number(r.get(keys[1])) for r in records]
    rules = []
    if keys[0] == "ratio_lower":
        estimate = [number((look or {}).get("ratio")) for look in looks]
        details = next((look for look in looks if look is not None), {})
        tolerance, margin = number(details.get("tolerance")), number(details.get("margin"))
        if tolerance is not None:
            rules.append(Rule(tolerance, f"regression at {tolerance:g}x (fails once the band is above)"))
        if margin is not None:
            rules.append(Rule(margin, f"margin {margin:g}x (passes once the band is below)", "reference"))
        rules.append(Rule(1.0, "no difference", "reference"))
    else:  # the canary's own rate at each look beside its bounds (a quantile's look has no point estimate)
        estimate = [_share(r.get("canary_events"), r.get("canary_trials")) for r in records]
        rules = [
            Rule(value, f"{bound} {value:g}")
            for bound in ("max", "min")
            if (value := number(spec.get(bound))) is not None
        ]
    finite = [v for v in lower + upper + estimate if v is not None] + [r.value for r in rules]
    if keys[0] == "ratio_lower":  # an open or very wide upper bound would flatten the rest: cap the axis
        finite = [v for v in finite if v <= 10] or [2.0]
    # a quantile's bounds beside the stable track's (recorded at the same look): the comparison the judge made
    stable = [r.get("stable_quantile") if keys[0] == "quantile_lower" else None for r in records]
    stable_low = [number(b[0]) if isinstance(b, list) and len(b) == 2 else None for b in stable]
    stable_high = [number(b[1]) if isinstance(b, list) and len(b) == 2 else None for b in stable]
    finite += [v for v in stable_low + stable_high if v is not None]
    ceiling = max(finite) * 1.15 if finite else 1.0

    def capped(high: list[float | None], low: list[float | None]) -> list[float | None]:
        return [u if u is not None else (ceiling if lo is not None else None) for u, lo in zip(high, low)]

    series = [Series("bounds", estimate, low=lower, high=capped(upper, lower), style="band")]
    if any(v is not None for v in stable_low):
        series[0].name = "canary"
        series.append(
            Series(
                "stable",
                [None] * len(records),
                low=stable_low,
                high=capped(stable_high, stable_low),
                style="band",
            )
        )
    return Chart(
        f"{name}: {title}, anytime-valid bounds",
        "analysis (step: traffic weight)",
        title,
        series,
        categories=labels,
        rules=rules,
        y_range=(0.0, ceiling),
        note="band: the confidence sequence at each look of the sequential judge; a bound beyond the axis is "
        "drawn at its edge",
    )


def _share(part: Any, whole: Any) -> float | None:
    """part / whole from a recorded look, None when either is missing or the whole is 0."""
    a, b = number(part), number(whole)
    return a / b if a is not None and b else None


def _weight(analysis: dict[str, Any]) -> str:
    weight, effective = analysis.get("weight"), number(analysis.get("effective_weight"))
    text = f"{weight}%"
    if effective is not None and effective != number(weight):
        text += f" ({effective:g}%)"
    return text


def _verdicts(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        dict(m, judge=j.get("judge"))
        for j in analysis.get("judges") or []
        if isinstance(j, dict)
        for m in j.get("metrics") or []
        if isinstance(m, dict)
    ]


def _sequential(analysis: dict[str, Any], name: str) -> dict[str, Any] | None:
    for verdict in _verdicts(analysis):
        details = verdict.get("details") or {}
        if verdict.get("judge") == "sequential" and verdict.get("metric") == name and "look" in details:
            return details
    return None


_VALUE_KINDS = ("counts", "histogram")  # the measured rate or quantile of a counted metric


def _side_value(analysis: dict[str, Any], name: str, side: str, kind: str | None) -> float | None:
    """The metric's value for one track in one analysis: from the recorded measurements, else from what a
    comparing judge recorded (canary_value / stable_value, or the means of a series)."""
    wanted = _VALUE_KINDS if kind not in (None, "series") else ("instant",)
    for m in analysis.get("measurements") or []:
        if m.get("metric") == name and m.get("side") == side and m.get("kind") in wanted:
            value = number(m.get("value"))
            if value is not None:
                return value
    for verdict in _verdicts(analysis):
        details = verdict.get("details") or {}
        if verdict.get("metric") == name:
            value = number(details.get(f"{side}_value", details.get(f"{side}_mean")))
            if value is not None:
                return value
    return None
