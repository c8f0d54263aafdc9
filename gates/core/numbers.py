"""Numbers as the reports write them (4 significant decimals, 3 significant digits when very large or small, a
dash for a missing or non-finite value). In core because gates write numbers into their reasons and evidence
tables too, and must do it as the formats do without importing them."""

from __future__ import annotations

import math


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
