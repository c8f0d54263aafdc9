"""What the bias gate shows: per-group tables and records, the group-size check, and the bar charts' data.

Presentation only, apart from the gate's arithmetic (gates/bias.py, gates/bias_rules.py): every function
reads point values and intervals already computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gates.bias_groups import Grouping
from gates.bias_rules import SHORT, RulePlan, sample_key
from gates.core.result import Check, Status


def size_check(grouping: Grouping, min_size: int) -> Check:
    small = {label: int(n) for label, n in zip(grouping.labels, grouping.sizes) if n < min_size}
    name = f"group_sizes[{grouping.key}]"
    details = {
        "sizes": {label: int(n) for label, n in zip(grouping.labels, grouping.sizes)},
        "min_group_size": min_size,
    }
    if not small:
        return Check(
            name,
            Status.PASS,
            f"all {len(grouping.labels)} groups by {grouping.key} have at least "
            f"{min_size} rows (smallest {int(grouping.sizes.min())})",
            value=float(grouping.sizes.min()),
            threshold=f">= {min_size} rows",
            details=details,
        )
    listed = ", ".join(
        f"{label} (n={n}{', empty intersection' if n == 0 else ''})" for label, n in small.items()
    )
    return Check(
        name,
        Status.WARN,
        f"{len(small)} of {len(grouping.labels)} groups by {grouping.key} have fewer than "
        f"{min_size} rows and are reported but not judged: {listed}",
        value=float(grouping.sizes.min()),
        threshold=f">= {min_size} rows",
        details=details,
    )


def _group_status(grouping: Grouping, g: int, min_size: int) -> str:
    n = int(grouping.sizes[g])
    if n == 0:
        return "empty intersection"
    if n < min_size:
        return f"not judged (n < {min_size})"
    return "judged"


def group_table(
    grouping: Grouping,
    features: tuple[str, ...],
    point: dict[str, np.ndarray],
    metrics: list[str],
    interval,
    min_size: int,
) -> str:
    from gates.core.numbers import number

    def cell(value: float, ci: tuple[float, float] | None, n: int) -> str:
        if n == 0:
            return "–"
        if not np.isfinite(value):
            return "undefined"
        return number(float(value)) + (f" [{number(ci[0])}, {number(ci[1])}]" if ci else "")

    head = ["group", "n", "positives"] + [SHORT.get(x, x) for x in metrics] + ["status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    counts = point[sample_key(features, "count")]
    positives = point[sample_key(features, "positives")]
    for g, label in enumerate(grouping.labels):
        n = round(float(counts[g]))
        row = [label, str(n), str(round(float(positives[g])))]
        row += [
            cell(point[sample_key(features, x)][g], interval(sample_key(features, x), g), n) for x in metrics
        ]
        row.append(_group_status(grouping, g, min_size))
        lines.append("| " + " | ".join(row) + " |")
    overall = [cell(float(point[sample_key(features, x, "o")]), None, 1) for x in metrics]
    total, positive = round(float(counts.sum())), round(float(positives.sum()))
    lines.append("| " + " | ".join(["**overall**", str(total), str(positive)] + overall + [""]) + " |")
    return "\n".join(lines)


def group_record(
    grouping: Grouping,
    features: tuple[str, ...],
    point: dict[str, np.ndarray],
    metrics: list[str],
    interval,
    min_size: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for g, label in enumerate(grouping.labels):
        entry: dict[str, Any] = {
            "n": int(grouping.sizes[g]),
            "positives": round(float(point[sample_key(features, "positives")][g])),
            "status": _group_status(grouping, g, min_size),
        }
        for x in metrics:
            value = float(point[sample_key(features, x)][g])
            ci = interval(sample_key(features, x), g) if entry["n"] else None
            entry[x] = {"value": value if np.isfinite(value) else None, "ci": list(ci) if ci else None}
        out[label] = entry
    out["overall"] = {x: float(point[sample_key(features, x, "o")]) for x in metrics}
    return out


def threshold_lines(plan: RulePlan, component: str) -> list[tuple[float, str]]:
    """Where the threshold sits on the per-group scale, for the bar chart."""
    rule, t = plan.rule, plan.rule.threshold
    vals = plan.point_values[component][plan.judged]
    if vals.size == 0:
        return []
    overall = plan.overall[component]
    if rule.relative_to == "between_groups":
        if rule.disparity == "ratio" and t.min is not None:
            return [(t.min * float(vals.max()), f"{t.min:g} × highest group")]
        if rule.disparity == "difference" and t.max is not None:
            return [(float(vals.max()) - t.max, f"highest − {t.max:g}")]
        return []
    if rule.disparity == "difference" and t.max is not None:
        return [(overall - t.max, f"overall ± {t.max:g}"), (overall + t.max, "")]
    if rule.disparity == "ratio" and t.min:
        return [(overall * t.min, f"overall × {t.min:g} and ÷ {t.min:g}"), (overall / t.min, "")]
    return []


def rule_charts(plans: list[RulePlan], point: dict[str, np.ndarray], interval) -> list[dict[str, Any]]:
    """Per rule and compared metric, the per-group values with their intervals, which groups are judged, the
    overall value and where the threshold sits: what the reports draw as bars (gates.formats.figures)."""
    out: list[dict[str, Any]] = []
    for plan in plans[:8]:
        for component in plan.rule.components:
            f = plan.rule.features
            labels = plan.grouping.labels
            judged = set(plan.judged.tolist())
            groups = []
            for g, label in enumerate(labels):
                value = float(point[sample_key(f, component)][g])
                ci = interval(sample_key(f, component), g) if plan.grouping.sizes[g] else None
                groups.append(
                    {
                        "group": label,
                        "value": value if np.isfinite(value) else None,
                        "ci": [float(ci[0]), float(ci[1])] if ci else None,
                        "n": int(plan.grouping.sizes[g]),
                        "judged": g in judged,
                    }
                )
            overall = float(plan.overall[component])
            out.append(
                {
                    "rule": plan.rule.name,
                    "metric": component,
                    "by": plan.grouping.key,
                    "title": f"{plan.rule.name}: {component} by {plan.grouping.key}",
                    "groups": groups,
                    "overall": overall if np.isfinite(overall) else None,
                    "lines": [
                        {"level": level, "label": label}
                        for level, label in threshold_lines(plan, component)
                        if np.isfinite(level)
                    ],
                }
            )
    return out
