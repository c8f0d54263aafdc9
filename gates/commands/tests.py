"""`mlgate tests`: the tests gate from flags and/or the policy's `tests` section."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import absolute, compact, execute


@click.command()
@click.option("--junit", multiple=True, help="JUnit XML file or glob (repeatable).")
@click.option(
    "--coverage",
    type=click.Path(path_type=Path),
    help="Coverage report: Cobertura XML, LCOV or JaCoCo XML (read by content).",
)
@click.option(
    "--run-pytest",
    "pytest_args",
    multiple=False,
    default=None,
    help="Run pytest with these arguments (quoted string) instead of reading JUnit files.",
)
@click.option("--cov-source", multiple=True, help="With --run-pytest: measure coverage of these packages.")
@click.option("--max-failures", type=int)
@click.option("--max-errors", type=int)
@click.option("--max-skipped", type=int)
@click.option("--max-flaky", type=int, help="Tests allowed to fail and then pass on a rerun (default 0).")
@click.option("--min-tests", type=int)
@click.option("--min-coverage", type=float, help="Minimum line coverage in percent.")
def tests(
    junit,
    coverage,
    pytest_args,
    cov_source,
    max_failures,
    max_errors,
    max_skipped,
    max_flaky,
    min_tests,
    min_coverage,
) -> int:
    """Tests gate: failures, errors, flaky tests and skips against limits, coverage against a minimum."""
    import shlex

    overrides = compact(
        {
            "junit": [absolute(j) for j in junit],
            "coverage": absolute(coverage),
            "max_failures": max_failures,
            "max_errors": max_errors,
            "max_skipped": max_skipped,
            "max_flaky": max_flaky,
            "min_tests": min_tests,
            "min_coverage": min_coverage,
        }
    )
    if pytest_args is not None:
        overrides["run"] = compact({"args": shlex.split(pytest_args), "coverage_source": list(cov_source)})
    return execute("tests", overrides)
