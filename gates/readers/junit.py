"""JUnit XML (pytest, Surefire, Jest and others) and Cobertura coverage XML (coverage.py's `coverage xml`).

Parsed with defusedxml (a declared dependency): the standard library alone is safe against external
entities but not against entity expansion ("billion laughs"), and these files come from untrusted runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as ET

from gates.core.errors import InputError


@dataclass
class TestCase:
    name: str
    classname: str
    outcome: str  # passed, failed, error, skipped
    message: str = ""
    file: str | None = None
    line: int | None = None
    time: float = 0.0


@dataclass
class TestRun:
    cases: list[TestCase] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)


def _parse(path: Path):
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - defusedxml's forbidden-construct errors
        raise InputError(f"{path}: refused XML ({type(exc).__name__}: {exc})") from None


_TRACE_LINE = re.compile(r'^(?P<file>[^\s:"]+\.py):(?P<line>\d+):', re.MULTILINE)


def read_junit(path: Path) -> TestRun:
    root = _parse(path)
    if root.tag not in ("testsuites", "testsuite"):
        raise InputError(f"{path}: expected a JUnit <testsuites> or <testsuite> root, got <{root.tag}>")
    run = TestRun(sources=[str(path)])
    for case in root.iter("testcase"):
        outcome, message, body = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                body = child.text or ""
                first_line = body.strip().splitlines()[0] if body.strip() else ""
                message = child.get("message") or first_line
                break
        file, line = case.get("file"), case.get("line")
        if outcome in ("failed", "error"):
            located = _TRACE_LINE.findall(body)
            if located:  # the last frame in the test's own file is where it failed
                own = [m for m in located if file and m[0].endswith(file)] or located
                file, line = own[-1][0], own[-1][1]
        run.cases.append(
            TestCase(
                name=case.get("name", "?"),
                classname=case.get("classname", ""),
                outcome=outcome,
                message=(message or "").strip(),
                file=file,
                line=int(line) if line and str(line).isdigit() else None,
                time=float(case.get("time") or 0.0),
            )
        )
    return run


@dataclass
class Coverage:
    line_rate: float  # 0..1
    lines_valid: int
    lines_covered: int
    branch_rate: float | None
    worst_files: list[tuple[str, float]]


def read_cobertura(path: Path) -> Coverage:
    root = _parse(path)
    if root.tag != "coverage":
        raise InputError(f"{path}: expected a Cobertura <coverage> root, got <{root.tag}>")
    try:
        line_rate = float(root.get("line-rate", "nan"))
    except ValueError:
        raise InputError(f"{path}: attribute line-rate is not a number") from None
    if not 0 <= line_rate <= 1:
        raise InputError(
            f"{path}: attribute line-rate: expected a number in [0, 1], got {root.get('line-rate')!r}"
        )
    branch = root.get("branch-rate")
    files = []
    for cls in root.iter("class"):
        try:
            files.append((cls.get("filename", "?"), float(cls.get("line-rate", "1"))))
        except ValueError:
            continue
    files.sort(key=lambda item: item[1])
    return Coverage(
        line_rate=line_rate,
        lines_valid=int(root.get("lines-valid", 0) or 0),
        lines_covered=int(root.get("lines-covered", 0) or 0),
        branch_rate=float(branch) if branch not in (None, "") else None,
        worst_files=files[:5],
    )
