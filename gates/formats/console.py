"""The console table printed at the end of every run.

Names and reasons come from user data (a JUnit test's name, a column's name); in GitHub Actions a printed line
can be a workflow command, so every cell goes through gates.core.errors.log_safe: no line breaks, no `##[` or `::`.
"""

from __future__ import annotations

from typing import TextIO

from gates.core.errors import log_safe
from gates.core.result import GateResult, Status
from gates.formats.text import interval, number

_COLOUR = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.ERROR: "35"}


def render(results: list[GateResult], stream: TextIO, colour: bool = False) -> None:
    rows = [("gate", "check", "status", "value", "interval", "threshold")]
    for result in results:
        for check in result.checks:
            rows.append(
                (
                    log_safe(result.gate),
                    log_safe(check.name),
                    check.status.value,
                    log_safe(number(check.value)),
                    interval(check),
                    log_safe(check.threshold or ""),
                )
            )
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell[:40].ljust(width) for cell, width in zip(row, widths)]
        if colour and index:
            code = _COLOUR[Status(row[2])]
            cells[2] = f"\x1b[{code}m{cells[2]}\x1b[0m"
        stream.write("  ".join(cells).rstrip() + "\n")
        if index == 0:
            stream.write("  ".join("-" * w for w in widths) + "\n")
    for result in results:
        worst_checks = [c for c in result.checks if not c.status.passed or c.status is Status.WARN]
        for check in worst_checks:
            stream.write(log_safe(f"{result.gate}/{check.name} {check.status.value}: {check.why}") + "\n")
    verdicts = ", ".join(f"{log_safe(r.gate)} {r.status.value}" for r in results) or "no gates ran"
    stream.write(f"verdict: {verdicts}\n")
