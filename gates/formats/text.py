"""Small text helpers shared by the human-readable formats."""

from __future__ import annotations

import math

from gates.core.result import Check, Status

ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "⛔"}


def number(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:g}"
    return str(value)


def interval(check: Check) -> str:
    if not check.ci:
        return ""
    return f"[{number(check.ci[0])}, {number(check.ci[1])}]"
