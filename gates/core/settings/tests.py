"""Settings of the tests gate (`tests:`): JUnit results, coverage, and the limits on both."""

# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gates.core.settings.base import Paths, PathText, Section, Settings

Count = Annotated[int, Field(ge=0)]


class PytestRun(Settings):
    """Run pytest itself and read what it writes."""

    args: list[str] = []
    """Extra pytest arguments."""
    cwd: PathText = "."
    """Folder pytest runs in."""
    coverage_source: list[str] = []
    """Packages to measure coverage of (pytest-cov's --cov)."""


class TestsSettings(Section):
    """Tests gate: JUnit XML results (or a pytest run) and line coverage (Cobertura XML, LCOV or JaCoCo XML)."""

    __test__ = False  # not a pytest test class, whatever its name
    section = "tests"

    junit: Paths | None = None
    coverage: PathText | None = None
    """A coverage report: Cobertura XML (coverage.py), an LCOV tracefile (Istanbul/nyc, c8, `coverage lcov`) or
    JaCoCo XML (Maven, Gradle); the format is read from the file's content."""
    run: PytestRun | None = None
    max_failures: Count = 0
    max_errors: Count = 0
    max_skipped: Count | None = None
    """Default: no limit."""
    max_flaky: Count = 0
    """Most tests allowed to fail and then pass on a rerun (checked whenever a test was flaky, or when set)."""
    min_tests: Count | None = None
    min_coverage: Annotated[float, Field(ge=0, le=100)] | None = None
    """Lowest line coverage, in percent."""
