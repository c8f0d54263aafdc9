"""Tests gate: test outcomes from JUnit XML (or a pytest run it starts) and line coverage from Cobertura XML,
LCOV or JaCoCo XML (the format is read from the file's content, gates.readers.coverage).

A flaky test (failed, then passed on a rerun) counts against its own limit, max_flaky, which is 0 unless the
policy says otherwise: a rerun plugin must not turn a failure into a silent pass."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Location, Status
from gates.core.thresholds import Threshold, decide
from gates.readers.coverage import Coverage, read_coverage
from gates.readers.junit import TestRun, read_junit

GATE = "tests"


def run(section: dict[str, Any], ctx: GateContext) -> GateResult:
    junit_paths: list[Path] = []
    coverage_path: Path | None = None
    if section.get("run") is not None:
        junit_paths, coverage_path = run_pytest(section["run"], ctx)
    patterns = section.get("junit") or []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        matches = sorted(glob.glob(str(ctx.path(pattern, must_exist=False))))
        if not matches:
            raise InputError(f"{pattern}: no JUnit file matches")
        junit_paths += [ctx.path(m) for m in matches]
    if not junit_paths:
        raise InputError("tests: give junit files (tests.junit) or tests.run to run pytest")
    runs = [read_junit(p) for p in junit_paths]
    merged = TestRun(cases=[c for r in runs for c in r.cases], sources=[s for r in runs for s in r.sources])
    if section.get("coverage"):
        coverage_path = ctx.path(section["coverage"])
    coverage = read_coverage(coverage_path) if coverage_path else None
    return evaluate(merged, coverage, section)


def run_pytest(spec: dict[str, Any], ctx: GateContext) -> tuple[list[Path], Path | None]:
    """Run pytest in a subprocess; its JUnit (and Cobertura) files stay in the report folder as evidence."""
    out_dir = (ctx.report_dir / "pytest").absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("junit.xml", "coverage.xml"):
        (out_dir / stale).unlink(missing_ok=True)
    junit = out_dir / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", "-p", "no:cacheprovider"]
    coverage = None
    if spec.get("coverage_source"):
        coverage = out_dir / "coverage.xml"
        command += [f"--cov={s}" for s in spec["coverage_source"]] + [f"--cov-report=xml:{coverage}"]
    command += list(spec.get("args") or [])
    cwd = ctx.path(spec.get("cwd", "."), must_exist=False)
    # Coverage data goes there too, not into (and over) a .coverage file in the project.
    env = {**os.environ, "COVERAGE_FILE": str(out_dir / ".coverage")}
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=3600, env=env, check=False
    )
    if completed.returncode not in (0, 1) or not junit.exists():
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"pytest in {cwd} could not run the tests (exit {completed.returncode}): {tail[0]}")
    return [junit], coverage if coverage and coverage.exists() else None


# A failed test fails the gate; an error is an error; a flaky test is reported (its limit check decides).
_CASE_STATUS = {"failed": Status.FAIL, "error": Status.ERROR, "flaky": Status.WARN}


def evaluate(tests: TestRun, coverage: Coverage | None, section: dict[str, Any]) -> GateResult:
    """Counts against limits, one annotated check per failed test, and coverage against its minimum."""
    total = len(tests.cases)
    failed, errors, skipped = tests.count("failed"), tests.count("error"), tests.count("skipped")
    flaky = tests.count("flaky")
    checks: list[Check] = []
    limits = (
        ("failures", failed, section.get("max_failures", 0)),
        ("errors", errors, section.get("max_errors", 0)),
        ("skipped", skipped, section.get("max_skipped")),
        ("flaky", flaky, section.get("max_flaky", 0) if flaky else section.get("max_flaky")),
    )
    for name, value, limit in limits:
        if limit is None:
            continue
        checks.append(decide(name, float(value), None, Threshold(max=float(limit)), label=f"{name} count"))
    if section.get("min_tests") is not None:
        checks.append(
            decide(
                "tests_run", float(total), None, Threshold(min=float(section["min_tests"])), label="tests run"
            )
        )
    if total == 0:
        checks.append(Check("tests_run", Status.ERROR, "the JUnit files hold no test cases: no evidence"))
    for case in tests.cases:
        if case.outcome in ("failed", "error", "flaky"):
            where = Location(case.file, case.line) if case.file else None
            checks.append(
                Check(
                    f"test: {case.classname}::{case.name}" if case.classname else f"test: {case.name}",
                    _CASE_STATUS[case.outcome],
                    f"{case.outcome}: {case.message or 'no message'}",
                    location=where,
                )
            )
    if coverage is not None:
        percent = round(coverage.line_rate * 100, 2)
        threshold = (
            Threshold(min=float(section["min_coverage"]))
            if section.get("min_coverage") is not None
            else Threshold()
        )
        check = decide("coverage", percent, None, threshold, label="line coverage %")
        if section.get("min_coverage") is None:
            check.status, check.why = Status.PASS, f"line coverage {percent}% (no minimum set)"
        check.details = {
            "format": coverage.format,
            "lines_valid": coverage.lines_valid,
            "lines_covered": coverage.lines_covered,
            "branch_rate": coverage.branch_rate,
            "least_covered": coverage.worst_files,
        }
        checks.append(check)
    elif section.get("min_coverage") is not None:
        checks.append(Check("coverage", Status.ERROR, "min_coverage is set but no coverage report was given"))
    summary: dict[str, Any] = {
        "total": total,
        "passed": tests.count("passed"),
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
    }
    if flaky:
        summary["flaky"] = flaky
    if coverage is not None:
        summary["coverage"] = round(coverage.line_rate * 100, 2)
    return GateResult(gate=GATE, checks=checks, summary=summary, evidence={"junit": tests.sources})
