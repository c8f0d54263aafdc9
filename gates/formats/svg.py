"""Charts as inline SVG for the HTML report: text, drawn from a gates.formats.figures.Chart, no library needed.

SVG instead of embedded pictures keeps the report small and sharp at any zoom or in print, and lets the page's
stylesheet colour it: every mark carries a class (c0, c1, … per series; rule, muted, axis), so light and dark mode
come from CSS variables. Each mark has a <title> with its numbers, which the browser shows on hover.
"""

from __future__ import annotations

import math
from html import escape

from gates.formats.figures import Chart, Series

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 58, 16, 28, 72
BAR_WIDTH = 64  # widest bar: two groups should not look like a wall


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= step * m)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


class _Frame:
    """Scales from data to the plot area."""

    def __init__(self, chart: Chart):
        self.chart = chart
        self.x0, self.x1 = LEFT, WIDTH - RIGHT
        self.y0, self.y1 = HEIGHT - BOTTOM, TOP
        if chart.categorical:
            self.lo_x, self.hi_x = 0.0, float(len(chart.categories))
        elif chart.diagonal:
            self.lo_x, self.hi_x = 0.0, 1.0
        else:
            xs = [x for s in chart.series for x in (s.xs or [])]
            self.lo_x, self.hi_x = (min(xs), max(xs)) if xs else (0.0, 1.0)
            if self.hi_x <= self.lo_x:
                self.hi_x = self.lo_x + 1.0
        if chart.y_range:
            self.lo_y, self.hi_y = chart.y_range
        else:
            values = [
                v
                for s in chart.series
                for v in [*s.ys, *(s.low or []), *(s.high or [])]
                if v is not None and math.isfinite(v)
            ] + [r.value for r in chart.rules]
            self.lo_y = min([0.0, *values])
            self.hi_y = max(values, default=1.0)
            if self.hi_y <= self.lo_y:
                self.hi_y = self.lo_y + 1.0
            self.hi_y += 0.08 * (self.hi_y - self.lo_y)

    def x(self, value: float) -> float:
        return self.x0 + (value - self.lo_x) / (self.hi_x - self.lo_x) * (self.x1 - self.x0)

    def y(self, value: float) -> float:
        clipped = min(max(value, self.lo_y), self.hi_y)
        return self.y0 - (clipped - self.lo_y) / (self.hi_y - self.lo_y) * (self.y0 - self.y1)

    def band(self, index: int) -> tuple[float, float]:
        """Left edge and width of a category's slot."""
        left, right = self.x(index), self.x(index + 1)
        return left, right - left


def render(chart: Chart, key: str) -> str:
    """One chart as an <svg> element; `key` makes its pattern ids unique in the page."""
    frame = _Frame(chart)
    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(chart.title)}" '
            'xmlns="http://www.w3.org/2000/svg">'
        ),
        f"<title>{escape(chart.title)}</title>",
        (
            f'<defs><pattern id="hatch-{key}" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern></defs>'
        ),
    ]
    parts += _axes(frame)
    if chart.diagonal:
        parts.append(
            f'<line class="diagonal" x1="{frame.x(0):.1f}" y1="{frame.y(0):.1f}" '
            f'x2="{frame.x(1):.1f}" y2="{frame.y(1):.1f}"/>'
        )
    bar_series = [s for s in chart.series if s.style == "bars"]
    for index, series in enumerate(chart.series):
        css = f"c{index % 6}"
        if series.style == "bars":
            parts += _bars(frame, series, bar_series.index(series), len(bar_series), css, key)
        elif series.style == "band":
            parts += _band(frame, series, css)
        elif series.style in ("stairs", "stairs-post"):
            parts += _stairs(frame, series, css)
        else:
            parts += _line(frame, series, css)
    labelled: list[float] = []  # baselines of the rule labels drawn so far
    for rule in chart.rules:
        y = frame.y(rule.value)
        parts.append(
            f'<line class="rule {rule.kind}" x1="{frame.x0}" x2="{frame.x1}" y1="{y:.1f}" y2="{y:.1f}">'
            f"<title>{escape(rule.label)}</title></line>"
        )
        if rule.label:
            at = y - 4  # above its line, or below it when another label is already there
            if any(abs(at - other) < 11 for other in labelled):
                at = y + 11
            labelled.append(at)
            parts.append(
                f'<text class="rule-label {rule.kind}" x="{frame.x1 - 4}" y="{at:.1f}" '
                f'text-anchor="end">{escape(rule.label[:60])}</text>'
            )
    parts += _legend(chart)
    parts.append("</svg>")
    return "".join(parts)


def _axes(frame: _Frame) -> list[str]:
    chart = frame.chart
    out = [
        f'<line class="axis" x1="{frame.x0}" x2="{frame.x1}" y1="{frame.y0}" y2="{frame.y0}"/>',
        f'<line class="axis" x1="{frame.x0}" x2="{frame.x0}" y1="{frame.y0}" y2="{frame.y1}"/>',
    ]
    for tick in _ticks(frame.lo_y, frame.hi_y):
        y = frame.y(tick)
        out.append(f'<line class="grid" x1="{frame.x0}" x2="{frame.x1}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{frame.x0 - 6}" y="{y + 3:.1f}" text-anchor="end">{tick:g}</text>')
    if chart.categorical:
        many = len(chart.categories) > 6 or max(len(c) for c in chart.categories) > 10
        step = max(1, math.ceil(len(chart.categories) / 24))  # at most ~24 labels
        for index, label in enumerate(chart.categories):
            if index % step:
                continue
            left, width = frame.band(index)
            x, y = left + width / 2, frame.y0 + 14
            shown = label if len(label) <= 12 else label[:11] + "…"
            turn = (
                f' transform="rotate(-35 {x:.1f} {y:.1f})" text-anchor="end"'
                if many
                else ' text-anchor="middle"'
            )
            out.append(
                f'<text class="tick" x="{x:.1f}" y="{y:.1f}"{turn}><title>{escape(label)}</title>'
                f"{escape(shown)}</text>"
            )
    else:
        for tick in _ticks(frame.lo_x, frame.hi_x):
            x = frame.x(tick)
            out.append(
                f'<text class="tick" x="{x:.1f}" y="{frame.y0 + 14}" text-anchor="middle">{tick:g}</text>'
            )
        out.append(
            f'<text class="label" x="{(frame.x0 + frame.x1) / 2:.1f}" y="{HEIGHT - 24}" '
            f'text-anchor="middle">{escape(chart.x_label)}</text>'
        )
    out.append(
        f'<text class="label" transform="rotate(-90)" x="{-(frame.y0 + frame.y1) / 2:.1f}" y="14" '
        f'text-anchor="middle">{escape(chart.y_label[:50])}</text>'
    )
    return out


def _tip(label: str, value: float | None, low: float | None, high: float | None) -> str:
    interval = f" [{_fmt(low)}, {_fmt(high)}]" if low is not None or high is not None else ""
    return f"<title>{escape(label)}: {_fmt(value)}{interval}</title>"


def _bars(frame: _Frame, series: Series, slot: int, slots: int, css: str, key: str) -> list[str]:
    chart, out = frame.chart, []
    base = frame.y(max(frame.lo_y, 0.0))
    for index, value in enumerate(series.ys):
        left, width = frame.band(index)
        inner = min(width * 0.7 / slots, BAR_WIDTH)
        x = left + (width - inner * slots) / 2 + slot * inner
        low = series.low[index] if series.low else None
        high = series.high[index] if series.high else None
        label = chart.categories[index] if index < len(chart.categories) else str(index)
        tip = _tip(f"{series.name}, {label}", value, low, high)
        muted = index < len(chart.muted) and chart.muted[index]
        if value is None:
            out.append(
                f'<text class="undefined" x="{x + inner / 2:.1f}" y="{base - 4:.1f}" text-anchor="middle">'
                f"{tip}undefined</text>"
            )
            continue
        top = frame.y(value)
        fill = f' style="fill:url(#hatch-{key})"' if muted else ""  # style: above the class's fill
        out.append(
            f'<rect class="bar {css}{" muted" if muted else ""}" x="{x:.1f}" y="{min(top, base):.1f}" '
            f'width="{max(inner - 2, 1):.1f}" height="{abs(base - top):.1f}"{fill}>{tip}</rect>'
        )
        if low is not None and high is not None:
            out.append(_whisker(x + inner / 2 - 1, frame.y(low), frame.y(high)))
    return out


def _whisker(x: float, y_low: float, y_high: float) -> str:
    return (
        f'<path class="whisker" d="M{x:.1f} {y_low:.1f}V{y_high:.1f}M{x - 4:.1f} {y_low:.1f}h8'
        f'M{x - 4:.1f} {y_high:.1f}h8"/>'
    )


def _xs(frame: _Frame, series: Series) -> list[float]:
    if frame.chart.categorical:
        return [frame.band(i)[0] + frame.band(i)[1] / 2 for i in range(len(series.ys))]
    return [frame.x(x) for x in (series.xs or [])]


def _line(frame: _Frame, series: Series, css: str) -> list[str]:
    xs = _xs(frame, series)
    points = [(x, frame.y(v)) for x, v in zip(xs, series.ys) if v is not None]
    out = []
    if len(points) > 1 and series.style != "points":
        path = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in points)
        out.append(f'<path class="line {css}" d="{path}"><title>{escape(series.name)}</title></path>')
    if series.style.startswith("points"):
        for index, (x, value) in enumerate(zip(xs, series.ys)):
            if value is None:
                continue
            low = series.low[index] if series.low else None
            high = series.high[index] if series.high else None
            if low is not None and high is not None:
                out.append(_whisker(x, frame.y(low), frame.y(high)))
            label = (
                frame.chart.categories[index]
                if frame.chart.categorical
                else f"x {_fmt((series.xs or [])[index])}"
            )
            out.append(
                f'<circle class="point {css}" cx="{x:.1f}" cy="{frame.y(value):.1f}" r="3.5">'
                f"{_tip(f'{series.name}, {label}', value, low, high)}</circle>"
            )
    return out


def _stairs(frame: _Frame, series: Series, css: str) -> list[str]:
    """A histogram over bin edges (stairs: len(xs) == len(ys) + 1, filled) or a step function through points
    (stairs-post: the precision-recall curve)."""
    xs, ys = series.xs or [], series.ys
    if not xs or not ys:
        return []
    if series.style == "stairs":
        d = f"M{frame.x(xs[0]):.1f} {frame.y(0):.1f}"
        for left, right, value in zip(xs, xs[1:], ys):
            y = frame.y(value or 0.0)
            d += f"L{frame.x(left):.1f} {y:.1f}L{frame.x(right):.1f} {y:.1f}"
        d += f"L{frame.x(xs[-1]):.1f} {frame.y(0):.1f}Z"
        return [f'<path class="stairs {css}" d="{d}"><title>{escape(series.name)}</title></path>']
    points = [(frame.x(x), frame.y(v)) for x, v in zip(xs, ys) if v is not None]
    if not points:
        return []
    d = f"M{points[0][0]:.1f} {points[0][1]:.1f}"
    for x, y in points[1:]:
        d += f"H{x:.1f}V{y:.1f}"
    return [f'<path class="line {css}" d="{d}"><title>{escape(series.name)}</title></path>']


def _band(frame: _Frame, series: Series, css: str) -> list[str]:
    """An interval per category (a bar from low to high) with the estimate as a point."""
    out = []
    for index, x in enumerate(_xs(frame, series)):
        low = series.low[index] if series.low else None
        high = series.high[index] if series.high else None
        value = series.ys[index]
        label = frame.chart.categories[index]
        tip = _tip(f"{series.name}, {label}", value, low, high)
        if low is not None and high is not None:
            top, bottom = frame.y(high), frame.y(low)
            out.append(
                f'<rect class="band {css}" x="{x - 7:.1f}" y="{top:.1f}" width="14" '
                f'height="{max(bottom - top, 1):.1f}">{tip}</rect>'
            )
        if value is not None:
            out.append(
                f'<circle class="point {css}" cx="{x:.1f}" cy="{frame.y(value):.1f}" r="3">{tip}</circle>'
            )
    return out


def _legend(chart: Chart) -> list[str]:
    if len(chart.series) < 2:
        return []
    out, x = [], LEFT
    for index, series in enumerate(chart.series):
        out.append(f'<rect class="key c{index % 6}" x="{x}" y="8" width="10" height="10"/>')
        out.append(f'<text class="legend" x="{x + 14}" y="17">{escape(series.name[:40])}</text>')
        x += 24 + 7 * min(len(series.name), 40)
    return out
