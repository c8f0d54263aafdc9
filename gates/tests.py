"""Tests gate: test outcomes from JUnit XML (or a pytest run it starts) and line coverage from Cobertura XML,
LCOV or JaCoCo XML (the format is read from the file's content, gates.readers.coverage).

A flaky test (failed, then passed on a rerun) counts against its own limit, max_flaky, which is 0 unless the
policy says otherwise: a rerun plugin must not turn a failure into a silent pass."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Location, Status
from gates.core.settings.base import as_list
from gates.core.settings.tests import PytestRun, TestsSettings
from gates.core.thresholds import Threshold, decide
from gates.readers.coverage import Coverage, read_coverage
from gates.readers.junit import TestRun, read_junit

GATE = "tests"


def run(section: TestsSettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = TestsSettings.of(section)
    junit_paths: list[Path] = []
    coverage_path: Path | None = None
    if settings.run is not None:
        junit_paths, coverage_path = run_pytest(settings.run, ctx)
    for pattern in as_list(settings.junit):
        matches = sorted(glob.glob(str(ctx.path(pattern, must_exist=False))))
        if not matches:
            raise InputError(f"{pattern}: no JUnit file matches")
        junit_paths += [ctx.path(m) for m in matches]
    if not junit_paths:
        raise InputError("tests: give junit files (tests.junit) or tests.run to run pytest")
    runs = [read_junit(p) for p in junit_paths]
    merged = TestRun(cases=[c for r in runs for c in r.cases], sources=[s for r in runs for s in r.sources])
    if settings.coverage:
        coverage_path = ctx.path(settings.coverage)
    coverage = read_coverage(coverage_path) if coverage_path else None
    return evaluate(merged, coverage, settings)


def run_pytest(spec: PytestRun, ctx: GateContext) -> tuple[list[Path], Path | None]:
    """Run pytest in a subprocess; its JUnit (and Cobertura) files stay in the report folder as evidence."""
    out_dir = (ctx.report_dir / "pytest").absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("junit.xml", "coverage.xml"):
        (out_dir / stale).unlink(missing_ok=True)
    junit = out_dir / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", "-p", "no:cacheprovider"]
    coverage = None
    if spec.coverage_source:
        coverage = out_dir / "coverage.xml"
        command += [f"--cov={s}" for s in spec.coverage_source] + [f"--cov-report=xml:{coverage}"]
    command += spec.args
    cwd = ctx.path(spec.cwd, must_exist=False)
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


def evaluate(
    tests: TestRun, coverage: Coverage | None, section: TestsSettings | Mapping[str, Any]
) -> GateResult:
    """Counts against limits, one annotated check per failed test, and coverage against its minimum."""
    settings = TestsSettings.of(section)
    total = len(tests.cases)
    failed, errors, skipped = tests.count("failed"), tests.count("error"), tests.count("skipped")
    flaky = tests.count("flaky")
    checks: list[Check] = []
    limits = (
        ("failures", failed, settings.max_failures),
        ("errors", errors, settings.max_errors),
        ("skipped", skipped, settings.max_skipped),
        # no flaky test and no limit set: nothing to report
        ("flaky", flaky, settings.max_flaky if flaky or "max_flaky" in settings.model_fields_set else None),
    )
    for name, value, limit in limits:
        if limit is None:
            continue
        checks.append(decide(name, float(value), None, Threshold(max=float(limit)), label=f"{name} count"))
    if settings.min_tests is not None:
        checks.append(
            decide(
                "tests_run", float(total), None, Threshold(min=float(settings.min_tests)), label="tests run"
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
        minimum = settings.min_coverage
        threshold = Threshold(min=float(minimum)) if minimum is not None else Threshold()
        check = decide("coverage", percent, None, threshold, label="line coverage %")
        if minimum is None:
            check.status, check.why = Status.PASS, f"line coverage {percent}% (no minimum set)"
        check.details = {
            "format": coverage.format,
            "lines_valid": coverage.lines_valid,
            "lines_covered": coverage.lines_covered,
            "branch_rate": coverage.branch_rate,
            "least_covered": coverage.worst_files,
        }
        checks.append(check)
    elif settings.min_coverage is not None:
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
