"""Workflow annotations (`::error::`, `::warning::`), printed only inside GitHub Actions.

GitHub shows at most 10 error and 10 warning annotations per step (and 50 per job) and drops the rest without a
word. So one mlgate process prints at most that many per level (its Output's StepBudget), the most severe
first; when there are more, the last one of a level says how many were left out and where they are.

Everything user-controlled is escaped as the runner unescapes it (actions/runner ActionCommand.cs): `%`, CR
and LF in the message; also `:` and `,` in properties (title, file), which would otherwise end a property.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gates.core.result import GateResult, Status
from gates.formats import Output

_LEVEL = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}
MESSAGE_CHARS = 4000  # an annotation is a pointer; the reports hold the full reason


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _message(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _candidates(results: list[GateResult], out: Output) -> list[tuple[int, str, str]]:
    """(severity, level, line) for every annotation the results call for, in the order of the results."""
    found: list[tuple[int, str, str]] = []
    for result in results:
        if not result.checks:  # no evidence is an error, and must not go unannounced
            found.append(
                (
                    Status.ERROR.severity,
                    "error",
                    (
                        f"::error title={_escape_property(f'mlgate {result.gate}')}::"
                        f"{escape_data(f'{result.gate}: the gate made no checks: no evidence')}"
                    ),
                )
            )
        for check in result.checks:
            level = _LEVEL.get(check.status)
            if not level:
                continue
            props = {"title": f"mlgate {result.gate}: {check.name}"}
            if check.location:
                props["file"] = out.relative(check.location.path)
                if check.location.line:
                    props["line"] = str(check.location.line)
                if check.location.column:
                    props["col"] = str(check.location.column)
            joined = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items())
            found.append(
                (check.status.severity, level, f"::{level} {joined}::{escape_data(_message(check.why))}")
            )
    return found


def _select(results: list[GateResult], out: Output) -> list[tuple[str, str]]:
    """(level, line) to print: most severe first, within what `out.budget` still allows per level."""
    candidates = sorted(_candidates(results, out), key=lambda c: -c[0])  # stable: ties keep their order
    report = out.relative(str(Path(out.report_dir) / f"{out.name}.json"))
    selected: list[tuple[str, str]] = []
    for level, what in (("error", "failed checks"), ("warning", "warnings")):
        chosen = [line for _, lvl, line in candidates if lvl == level]
        room = out.budget.annotations.get(level, 0)
        if len(chosen) > room > 0:
            left_out = len(chosen) - (room - 1)
            chosen = chosen[: room - 1] + [
                f"::{level} title=mlgate::"
                + escape_data(f"and {left_out:,} more {what}: see the report ({report})")
            ]
        selected += [(level, line) for line in chosen[: max(room, 0)]]
    return selected


def lines(results: list[GateResult], out: Output) -> list[str]:
    """The annotation lines to print (see _select); printing them is `write`'s job."""
    return [line for _, line in _select(results, out)]


def write(results: list[GateResult], out: Output) -> list[Path]:
    if out.in_actions:
        for level, line in _select(results, out):
            sys.stdout.write(line + "\n")
            out.budget.annotations[level] -= 1
    return []
