"""JUnit XML test results (pytest, pytest-xdist, pytest-rerunfailures, Maven Surefire, Ant, Jest and others).

A test case can carry several results, and every one counts: pytest writes <skipped> then <error> when a
skipped test's teardown fails; Surefire writes <rerunFailure>/<rerunError> beside the final <failure>/<error>
and <flakyFailure>/<flakyError> when a rerun passed; pytest-rerunfailures writes each attempt as its own
<testcase> element with the same name (an attempt is only rerun after it failed). A test is as bad as its
worst result: error > failed > flaky (failed, then passed on a rerun) > skipped > passed.

Parsed with defusedxml (a declared dependency): the standard library alone is safe against external
entities but not against entity expansion ("billion laughs"), and these files come from untrusted runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as ET

from gates.core.errors import InputError

# Worst first. "flaky" is a test that failed or errored on an attempt and passed on its last one.
OUTCOMES = ("error", "failed", "flaky", "skipped", "passed")
_RANK = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
_FINAL = {"error": "error", "failure": "failed", "skipped": "skipped"}
_RETRY = {"rerunFailure": "failed", "rerunError": "error", "flakyFailure": "failed", "flakyError": "error"}


@dataclass
class TestCase:
    """One test after merging all its results (and all its attempts) in one file."""

    name: str
    classname: str
    outcome: str  # one of OUTCOMES
    message: str = ""
    file: str | None = None
    line: int | None = None
    time: float = 0.0
    attempts: int = 1


@dataclass
class TestRun:
    cases: list[TestCase] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)


def parse_xml(path: Path) -> Any:
    """The root element of an XML file; missing, empty, malformed or hostile files are InputErrors."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an XML file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - defusedxml's forbidden-construct errors and decoder errors
        raise InputError(f"{path}: refused XML ({type(exc).__name__}: {exc})") from None


_TRACE_LINE = re.compile(r'^(?P<file>[^\s:"]+\.py):(?P<line>\d+):', re.MULTILINE)


@dataclass
class _Result:
    outcome: str
    message: str
    body: str


def _results(case: Any) -> tuple[list[_Result], list[_Result]]:
    """(final results, failed earlier attempts) of one <testcase> element."""
    final: list[_Result] = []
    retries: list[_Result] = []
    for child in case:
        tag = child.tag if isinstance(child.tag, str) else ""
        kind = _FINAL.get(tag) or _RETRY.get(tag)
        if kind is None:
            continue
        body = child.text or ""
        trace = child.find("stackTrace")  # Surefire's rerun and flaky results hold the trace in a child
        if trace is not None and trace.text:
            body = trace.text
        text = (child.get("message") or body).strip()
        result = _Result(kind, text.splitlines()[0].strip() if text else "", body)
        (final if tag in _FINAL else retries).append(result)
    return final or [_Result("passed", "", "")], retries


def _worst(results: list[_Result]) -> _Result:
    return min(results, key=lambda r: _RANK[r.outcome])


def _time(value: str | None) -> float:
    """Seconds; Surefire writes thousands separators ("1,234.5"). Unreadable times count as 0, not an error:
    nothing is decided on them."""
    try:
        return float((value or "0").replace(",", ""))
    except ValueError:
        return 0.0


def read_junit(path: Path) -> TestRun:
    """Every test case of a JUnit file, each as bad as its worst result over all its attempts."""
    root = parse_xml(path)
    if root.tag not in ("testsuites", "testsuite"):
        raise InputError(f"{path}: expected a JUnit <testsuites> or <testsuite> root, got <{root.tag}>")
    attempts: dict[tuple[str, str], list[Any]] = {}
    for case in root.iter("testcase"):
        attempts.setdefault((case.get("classname") or "", case.get("name") or "?"), []).append(case)
    run = TestRun(sources=[str(path)])
    for (classname, name), elements in attempts.items():
        run.cases.append(_merge(classname, name, elements))
    return run


def _merge(classname: str, name: str, elements: list[Any]) -> TestCase:
    """One test from its <testcase> elements (one per attempt when pytest-rerunfailures reran it)."""
    final, retries = _results(elements[-1])
    for earlier in elements[:-1]:
        results, older = _results(earlier)
        retries += older + [
            r if r.outcome in ("failed", "error") else _Result("failed", "failed, then rerun", "")
            for r in results
        ]
    worst = _worst(final)
    outcome, message, body = worst.outcome, worst.message, worst.body
    failed_attempts = [r for r in retries if r.outcome in ("failed", "error")]
    if outcome in ("passed", "skipped") and failed_attempts:
        first = failed_attempts[0]
        outcome, body = "flaky", first.body
        message = f"{first.outcome} on {len(failed_attempts)} of {len(failed_attempts) + 1} attempts" + (
            f": {first.message}" if first.message and first.message != "failed, then rerun" else ""
        )
    last = elements[-1]
    file, line = last.get("file"), last.get("line")
    if outcome in ("failed", "error", "flaky"):
        located = _TRACE_LINE.findall(body)
        if located:  # the last frame in the test's own file is where it failed
            own = [m for m in located if file and m[0].endswith(file)] or located
            file, line = own[-1][0], own[-1][1]
    return TestCase(
        name=name,
        classname=classname,
        outcome=outcome,
        message=message,
        file=file,
        line=int(line) if line and str(line).isdigit() else None,
        time=sum(_time(e.get("time")) for e in elements),
        attempts=max(len(elements), len(retries) + 1),
    )
