"""What changed between two runs: two JSON reports (mlgate.json or <gate>.json) in, their differences out.

A reviewer of a pull request asks "what did this change do to the verdict": which gates changed status, which
checks moved (status, value, interval, threshold; added or removed), which findings appeared or went away.
Pure: `load` reads and validates a report (against gates/schema/report.schema.json, one InputError line on any
problem), `compare` computes a `ReportDiff`, `to_json` and `to_text` render it; the Markdown for the pull-request
comment is gates.formats.comment.diff_markdown.

Checks are matched by gate and name, findings by gate, category, rule, location and message (as a multiset, so
two identical findings count twice). Values equal within a relative 1e-9 are unchanged: a re-run that reproduces
its numbers shows no difference.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.core.result import report_schema

MAX_BYTES = 256 * 1024 * 1024  # a JSON report larger than this is not one mlgate wrote
_SEVERITY = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


def load(path: Path) -> dict[str, Any]:
    """A JSON report, validated; InputError (one line naming the file and the problem) otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{path}: {size:,} bytes, larger than any mlgate report ({MAX_BYTES:,} at most)")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {exc.start}); expected an mlgate JSON report"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected an mlgate JSON report"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not an mlgate JSON report ({exc})") from None
    _validate(path, document)
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _validate(path: Path, document: Any) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(report_schema())
    try:
        error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be an mlgate JSON report") from None
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        message = error.message if len(error.message) <= 200 else error.message[:199] + "…"
        raise InputError(f"{path}: not a valid mlgate report at {where}: {message}")


# -- comparing ----------------------------------------------------------------------------------------------------


@dataclass
class CheckChange:
    gate: str
    name: str
    change: str  # added, removed, changed
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    @property
    def delta(self) -> float | None:
        """New value minus old, when both are numbers."""
        a, b = _number((self.old or {}).get("value")), _number((self.new or {}).get("value"))
        return None if a is None or b is None else b - a

    def fields(self) -> list[str]:
        """Which of status, value, interval, threshold differ (all of them for an added or removed check)."""
        if self.old is None or self.new is None:
            return ["status", "value", "ci", "threshold"]
        return [
            k for k in ("status", "value", "ci", "threshold") if not _same(self.old.get(k), self.new.get(k))
        ]


@dataclass
class GateChange:
    gate: str
    old_status: str | None  # None: the gate is new
    new_status: str | None  # None: the gate is gone
    checks: list[CheckChange] = field(default_factory=list)
    findings_added: list[dict[str, Any]] = field(default_factory=list)
    findings_removed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def change(self) -> str:
        if self.old_status is None:
            return "added"
        if self.new_status is None:
            return "removed"
        if self.old_status != self.new_status or self.checks or self.findings_added or self.findings_removed:
            return "changed"
        return "unchanged"


@dataclass
class ReportDiff:
    old: dict[str, Any]  # file, created, status, exit_code of each side
    new: dict[str, Any]
    gates: list[GateChange]

    @property
    def changed(self) -> list[GateChange]:
        return [g for g in self.gates if g.change != "unchanged"]

    @property
    def worse(self) -> bool:
        """Whether the overall status got more severe."""
        return _SEVERITY.get(self.new["status"], 3) > _SEVERITY.get(self.old["status"], 3)

    def counts(self) -> dict[str, int]:
        checks = [c for g in self.gates for c in g.checks]
        return {
            "gates_changed": len(self.changed),
            "checks_added": sum(c.change == "added" for c in checks),
            "checks_removed": sum(c.change == "removed" for c in checks),
            "checks_changed": sum(c.change == "changed" for c in checks),
            "status_changes": sum(c.change == "changed" and "status" in c.fields() for c in checks),
            "findings_added": sum(len(g.findings_added) for g in self.gates),
            "findings_removed": sum(len(g.findings_removed) for g in self.gates),
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _side(path: Path | str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "file": str(path),
        "created": document.get("created"),
        "status": document.get("status"),
        "exit_code": document.get("exit_code"),
    }


def _finding_key(finding: dict[str, Any]) -> str:
    location = finding.get("location") or {}
    return json.dumps(
        [
            finding.get("category"),
            finding.get("rule_id"),
            location.get("path"),
            location.get("line"),
            finding.get("message"),
            finding.get("suppressed") is not None,
        ]
    )


def _by_name(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The first item of each name (names are unique in a gate; a repeated one keeps its first)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        out.setdefault(str(item.get(key)), item)
    return out


def compare(
    old: dict[str, Any], new: dict[str, Any], old_name: Path | str = "old", new_name: Path | str = "new"
) -> ReportDiff:
    """The differences from `old` to `new` (two validated report documents)."""
    old_gates, new_gates = _by_name(old["gates"], "gate"), _by_name(new["gates"], "gate")
    gates = []
    for name in list(old_gates) + [n for n in new_gates if n not in old_gates]:
        before, after = old_gates.get(name), new_gates.get(name)
        change = GateChange(name, before["status"] if before else None, after["status"] if after else None)
        old_checks = _by_name((before or {}).get("checks", []), "name")
        new_checks = _by_name((after or {}).get("checks", []), "name")
        for check in list(old_checks) + [n for n in new_checks if n not in old_checks]:
            a, b = old_checks.get(check), new_checks.get(check)
            kind = "added" if a is None else "removed" if b is None else "changed"
            item = CheckChange(name, check, kind, a, b)
            if kind != "changed" or item.fields():
                change.checks.append(item)
        old_findings = Counter(_finding_key(f) for f in (before or {}).get("findings", []))
        new_findings = Counter(_finding_key(f) for f in (after or {}).get("findings", []))
        examples = {
            _finding_key(f): f for f in (before or {}).get("findings", []) + (after or {}).get("findings", [])
        }
        for key, n in (new_findings - old_findings).items():
            change.findings_added += [examples[key]] * n
        for key, n in (old_findings - new_findings).items():
            change.findings_removed += [examples[key]] * n
        gates.append(change)
    return ReportDiff(_side(old_name, old), _side(new_name, new), gates)


# -- rendering ----------------------------------------------------------------------------------------------------


def to_json(diff: ReportDiff) -> dict[str, Any]:
    return {
        "old": diff.old,
        "new": diff.new,
        "status": {"old": diff.old["status"], "new": diff.new["status"], "worse": diff.worse},
        "counts": diff.counts(),
        "gates": [
            {
                "gate": g.gate,
                "change": g.change,
                "status": {"old": g.old_status, "new": g.new_status},
                "checks": [
                    {
                        "name": c.name,
                        "change": c.change,
                        "fields": c.fields(),
                        "old": c.old,
                        "new": c.new,
                        "delta": c.delta,
                    }
                    for c in g.checks
                ],
                "findings": {"added": g.findings_added, "removed": g.findings_removed},
            }
            for g in diff.gates
        ],
    }


def describe_value(check: dict[str, Any] | None) -> str:
    """'0.7822 [0.7634, 0.7999] (pass)' for one side of a check."""
    from gates.formats.text import ci_text, number

    if check is None:
        return "–"
    value = number(check.get("value"))
    interval = ci_text(check.get("ci"))
    return f"{value}{' ' + interval if interval else ''} ({check.get('status')})"


def finding_text(finding: dict[str, Any]) -> str:
    location = finding.get("location") or {}
    where = str(location.get("path", ""))
    if location.get("line"):
        where += f":{location['line']}"
    severity = finding.get("severity") or finding.get("level") or ""
    return f"{finding.get('rule_id')} ({severity}) {finding.get('message', '')}" + (
        f" at {where}" if where else ""
    )


def to_text(diff: ReportDiff) -> str:
    """For people at a terminal: the verdict change, then per changed gate its checks and findings."""
    from gates.formats.text import number

    counts = diff.counts()
    lines = [
        f"mlgate report diff: {diff.old['status']} -> {diff.new['status']}"
        + (" (worse)" if diff.worse else "")
        + f"  [{diff.old['file']} -> {diff.new['file']}]"
    ]
    if not diff.changed:
        lines.append("no differences in verdicts, checks or findings")
        return "\n".join(lines) + "\n"
    lines.append(
        f"{counts['gates_changed']} gate(s) changed; checks: {counts['checks_changed']} changed "
        f"({counts['status_changes']} status), {counts['checks_added']} added, {counts['checks_removed']} removed; "
        f"findings: {counts['findings_added']} added, {counts['findings_removed']} removed"
    )
    for g in diff.changed:
        lines.append("")
        lines.append(f"{g.gate}: {g.old_status or '(absent)'} -> {g.new_status or '(absent)'} ({g.change})")
        for c in g.checks:
            delta = f"  delta {number(c.delta)}" if c.delta is not None and "value" in c.fields() else ""
            lines.append(
                f"  {c.change:8} {c.name}: {describe_value(c.old)} -> {describe_value(c.new)}{delta}"
            )
        lines += [f"  + finding {finding_text(f)}" for f in g.findings_added]
        lines += [f"  - finding {finding_text(f)}" for f in g.findings_removed]
    return "\n".join(lines) + "\n"
