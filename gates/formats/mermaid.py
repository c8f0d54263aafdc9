"""Charts for the job summary as Mermaid `xychart-beta` blocks, which GitHub renders inline in Markdown.

Only categorical charts (per-group bars, the canary timeline) are drawn: xychart places values at evenly
spaced categories, which would misdraw an ROC curve. xychart has no legend, no whiskers and no missing values,
so each block is followed by a line naming every series by its colour (the palette is set in the block's
front matter), an interval band becomes lower and upper lines, bar whiskers are left to the tables, and a category
with a missing value is left out (said so).
"""

from __future__ import annotations

import math

from gates.formats.figures import Chart

SERIES_COLOURS = (("blue", "#0969da"), ("orange", "#d4700b"), ("purple", "#8250df"), ("green", "#1a7f37"))
RULE_COLOURS = {"limit": ("red", "#cf222e"), "reference": ("grey", "#8c959f")}
MAX_PLOTS = 7
MAX_CATEGORIES = 30


def _text(value: str, limit: int = 40) -> str:
    """A quoted Mermaid string: no double quotes, line breaks or %% (a comment, even inside quotes), not empty
    (which does not parse), and not too long."""
    cleaned = " ".join(value.replace('"', "'").replace("`", "'").replace("%%", "% %").split()) or "(empty)"
    return '"' + (cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…") + '"'


def _value(v: float) -> str:
    """Six significant digits in positional notation: xychart's grammar has no exponents (1e-05 fails)."""
    if v == 0 or not math.isfinite(v):
        return "0"
    decimals = min(max(0, 5 - math.floor(math.log10(abs(v)))), 12)  # below 1e-12: 0
    text = f"{v:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def render(chart: Chart) -> list[str] | None:
    """The Markdown lines of one chart (a mermaid block and its key), or None when it cannot be drawn."""
    if not chart.categorical:
        return None
    plots: list[tuple[str, str, list[float | None]]] = []  # (kind, name, values)
    for series in chart.series:
        if series.style == "bars":
            plots.append(("bar", series.name, list(series.ys)))
        elif series.style == "band":
            plots.append(("line", "lower bound", list(series.low or [])))
            plots.append(("line", "upper bound", list(series.high or [])))
        else:
            plots.append(("line", series.name, list(series.ys)))
    colours = [SERIES_COLOURS[k % len(SERIES_COLOURS)] for k in range(len(plots))]  # xychart colours in order
    n = len(chart.categories)
    plots += [("line", rule.label or f"{rule.value:g}", [rule.value] * n) for rule in chart.rules]
    colours += [RULE_COLOURS.get(rule.kind, RULE_COLOURS["limit"]) for rule in chart.rules]
    plots, colours = plots[:MAX_PLOTS], colours[:MAX_PLOTS]
    keep = [
        i
        for i in range(n)
        if all(i < len(values) and values[i] is not None for kind, _, values in plots if kind == "line")
    ][-MAX_CATEGORIES:]
    if not keep or not plots:
        return None
    finite = [v for _, _, values in plots for i in keep if (v := values[i]) is not None and math.isfinite(v)]
    low, high = chart.y_range or (min([0.0, *finite]), max(finite, default=1.0))
    if not chart.y_range:
        high = high + 0.1 * (high - low) if high > low else low + 1.0
    lines = [
        "",
        "```mermaid",
        "---",
        "config:",
        "  themeVariables:",
        "    xyChart:",
        '      plotColorPalette: "' + ", ".join(hex_code for _, hex_code in colours) + '"',
        "---",
        "xychart-beta",
        f"    title {_text(chart.title, 70)}",
        "    x-axis [" + ", ".join(_text(chart.categories[i], 18) for i in keep) + "]",
        f"    y-axis {_text(chart.y_label)} {_value(low)} --> {_value(high)}",
    ]
    for kind, _, values in plots:
        shown = [v if (v := values[i]) is not None and math.isfinite(v) else 0.0 for i in keep]
        lines.append(f"    {kind} [" + ", ".join(_value(min(max(v, low), high)) for v in shown) + "]")
    lines.append("```")
    key = "; ".join(
        f"{name} ({colour}{', bars' if kind == 'bar' else ''})"
        for (kind, name, _), (colour, _) in zip(plots, colours)
    )
    missing = [chart.categories[i] for i in range(n) if i not in keep]
    undefined = [
        chart.categories[i]
        for i in keep
        if any(values[i] is None for kind, _, values in plots if kind == "bar")
    ]
    notes = [f"Key: {key}."]
    if undefined:
        notes.append(f"Undefined (drawn as 0): {', '.join(undefined[:10])}.")
    if missing:
        notes.append(f"Not drawn (no value, or beyond the last {MAX_CATEGORIES}): {len(missing)} of {n}.")
    if any(series.style == "bars" and series.low for series in chart.series):
        notes.append("Intervals: in the table below and in report.html.")
    lines += ["", "<sub>" + " ".join(notes).replace("|", "\\|").replace("<", "&lt;") + "</sub>"]
    return lines
