"""Small text helpers shared by the human-readable formats (`number` lives in gates.core.numbers: gates use it too)."""

from __future__ import annotations

from typing import Any

from gates.core.numbers import number
from gates.core.result import Check, Status

ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "⛔"}


def interval(check: Check) -> str:
    if not check.ci:
        return ""
    return f"[{number(check.ci[0])}, {number(check.ci[1])}]"


def deciding_check(gate: dict[str, Any]) -> dict[str, Any] | None:
    """The check that decided a gate's status (dict form, as in the JSON report): the first check of the gate's
    status, preferring one with a threshold; None when the gate has no checks."""
    checks = [c for c in gate.get("checks") or [] if isinstance(c, dict)]
    same = [c for c in checks if c.get("status") == gate.get("status")] or checks
    return next((c for c in same if c.get("threshold")), same[0] if same else None)


def ci_text(ci: Any) -> str:
    """An interval in dict form ([low, high] or null) as text."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return ""
    return f"[{number(ci[0])}, {number(ci[1])}]"
