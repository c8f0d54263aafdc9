"""The one result model every gate returns, and the status algebra that combines checks into a verdict.

Every output format renders these objects and nothing else, so the verdict is the same in all of them.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

# The JSON report's version, described by gates/schema/report.schema.json (its schema_version const must match;
# tests check). MAJOR.MINOR: a new optional field bumps the minor version; renaming, removing or changing the
# meaning of a field bumps the major one.
REPORT_SCHEMA_VERSION = "1.0"


def report_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the reports json_report writes, shipped as gates/schema/report.schema.json."""
    import json
    from importlib import resources

    text = resources.files("gates.schema").joinpath("report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class Status(str, enum.Enum):
    """Outcome of a check or a gate. Ordered by severity: error > fail > warn > pass."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def passed(self) -> bool:
        """Warnings do not block: only pass and warn let a pipeline go on."""
        return self in (Status.PASS, Status.WARN)


_SEVERITY = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    """Combine statuses; an empty list means no evidence, which is an error, never a pass."""
    if not statuses:
        return Status.ERROR
    return max(statuses, key=lambda s: s.severity)


@dataclass(frozen=True)
class Location:
    """Where a finding points, for annotations and SARIF (path relative to the workspace when possible)."""

    path: str
    line: int | None = None
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {"path": self.path, "line": self.line, "column": self.column}.items()
            if v is not None
        }


@dataclass
class Check:
    """One decided question: a value (and its interval) against a threshold, with a one-sentence reason."""

    name: str
    status: Status
    why: str
    value: float | str | None = None
    ci: tuple[float, float] | None = None
    threshold: str | None = None
    location: Location | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status.value,
            "value": _jsonable(self.value),
            "ci": [_jsonable(self.ci[0]), _jsonable(self.ci[1])] if self.ci else None,
            "threshold": self.threshold,
            "why": self.why,
        }
        if self.location:
            out["location"] = self.location.to_dict()
        if self.details:
            out["details"] = _jsonable(self.details)
        return out


@dataclass
class Finding:
    """One security or policy finding, kept apart from checks so hundreds of CVEs do not flood the table.

    `category` separates SARIF uploads (code scanning keeps one analysis per category and commit).
    """

    rule_id: str
    level: str  # SARIF level: error, warning or note
    message: str
    category: str
    location: Location | None = None
    severity: str | None = None
    suppressed: str | None = None  # the reason, when an ignore entry suppresses it
    properties: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "rule_id": self.rule_id,
            "level": self.level,
            "message": self.message,
            "category": self.category,
            "severity": self.severity,
            "suppressed": self.suppressed,
            "properties": _jsonable(self.properties),
        }
        if self.location:
            out["location"] = self.location.to_dict()
        return out


@dataclass
class GateResult:
    """A gate's verdict: the worst of its checks, plus the evidence a reviewer needs to trust it."""

    gate: str
    checks: list[Check] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    exit_code_hint: int | None = None

    @property
    def status(self) -> Status:
        return worst([c.status for c in self.checks])

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for c in self.checks:
            counts[c.status.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status.value,
            "counts": self.counts(),
            "summary": _jsonable(self.summary),
            "checks": [c.to_dict() for c in self.checks],
            "evidence": _jsonable(self.evidence),
            "artifacts": dict(self.artifacts),
            "findings": [f.to_dict() for f in self.findings],
        }


def error_result(gate: str, why: str, exit_code: int, evidence: dict[str, Any] | None = None) -> GateResult:
    """A gate that could not decide still reports: one error check carrying the reason."""
    return GateResult(
        gate=gate,
        checks=[Check(name="gate", status=Status.ERROR, why=why)],
        evidence=evidence or {},
        exit_code_hint=exit_code,
    )


def exit_code(results: list[GateResult]) -> int:
    """0 all passed (warnings allowed), 1 a gate failed, 2 bad input or configuration, 3 infrastructure fault.

    Bad input outranks an infrastructure fault, which outranks a failed gate: the most actionable cause wins.
    """
    hints = {r.exit_code_hint for r in results if r.exit_code_hint}
    for code in (2, 3):
        if code in hints:
            return code
    if not results or any(not r.status.passed for r in results):
        return 1
    return 0


FAIL_ON = ("fail", "error", "never")  # --fail-on: which verdicts make the process exit non-zero


def process_exit_code(verdict: int, fail_on: str = "fail") -> int:
    """The code the process exits with for a verdict's exit code under ``--fail-on``.

    ``fail`` (the default) exits with the verdict's code; ``error`` lets a failed gate (1) exit 0 while bad input
    (2) and infrastructure faults (3) still exit non-zero; ``never`` exits 0 for every verdict (report-only).
    Codes outside 1-3 (130 for an interrupt) are not verdicts and pass through unchanged."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    if fail_on == "never" and verdict in (1, 2, 3):
        return 0
    if fail_on == "error" and verdict == 1:
        return 0
    return verdict


def report_only_note(verdict: int, fail_on: str) -> str | None:
    """The sentence every human-readable format shows when --fail-on keeps a non-zero verdict from blocking."""
    if verdict != 0 and process_exit_code(verdict, fail_on) == 0:
        return f"report-only (fail-on: {fail_on}): this verdict does not block"
    return None


def _jsonable(value: Any) -> Any:
    """NaN and infinity are not JSON: they become null, so a report always parses."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value
