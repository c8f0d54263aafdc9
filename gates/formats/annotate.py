"""Workflow annotations (`::error::`, `::warning::`), printed only inside GitHub Actions."""

from __future__ import annotations

import sys
from pathlib import Path

from gates.formats import Output
from gates.result import GateResult, Status

_LEVEL = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def lines(results: list[GateResult], out: Output) -> list[str]:
    rendered = []
    for result in results:
        if not result.checks:  # no evidence is an error, and must not go unannounced
            rendered.append(
                f"::error title={_escape_property(f'mlgate {result.gate}')}::"
                f"{escape_data(f'{result.gate}: the gate made no checks: no evidence')}"
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
            rendered.append(f"::{level} {joined}::{escape_data(check.why)}")
    return rendered


def write(results: list[GateResult], out: Output) -> list[Path]:
    if out.in_actions:
        for line in lines(results, out):
            sys.stdout.write(line + "\n")
    return []
