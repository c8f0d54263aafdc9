"""The tests gate on real JUnit and Cobertura XML, written by running pytest (with coverage) in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gates import tests as testsuite
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.readers.junit import TestRun as JUnitRun  # aliased: pytest would try to collect Test*
from tests.conftest import clean_environ

CALC = """\
def add(a, b):
    return a + b


def divide(a, b):
    if b == 0:
        raise ZeroDivisionError("b is 0")
    return a / b


def never_called():
    x = 1
    y = 2
    return x + y
"""

TESTS = """\
import pytest

from calc import add, divide


def test_add():
    assert add(2, 3) == 5


def test_divide_is_wrong():
    assert divide(1, 4) == 0.5


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


def test_divide_by_zero():
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
"""
FAILING_LINE = TESTS.splitlines().index("    assert divide(1, 4) == 0.5") + 1


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calc.py").write_text(CALC)
    (folder / "test_calc.py").write_text(TESTS)
    return folder


@pytest.fixture(scope="module")
def pytest_reports(tmp_path_factory) -> Path:
    """Run pytest with coverage once on the tiny project; JUnit and Cobertura land next to it."""
    project = write_project(tmp_path_factory.mktemp("proj"))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--junitxml=junit.xml",
        "--cov=calc",
        "--cov-report=xml:coverage.xml",
        "test_calc.py",
    ]
    completed = subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_environ({"COVERAGE_FILE": str(project / ".coverage")}),
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr  # one test fails, on purpose
    assert (project / "junit.xml").is_file() and (project / "coverage.xml").is_file()
    return project


def context(folder: Path) -> GateContext:
    return GateContext(base_dir=folder, report_dir=folder / "reports")


def checks(result) -> dict:
    return {c.name: c for c in result.checks}


def test_failed_test_becomes_a_fail_check_with_file_and_line(pytest_reports):
    result = testsuite.run(
        {"junit": "junit.xml", "coverage": "coverage.xml", "min_coverage": 50}, context(pytest_reports)
    )
    by_name = checks(result)
    assert result.status is Status.FAIL
    assert result.summary == {
        "total": 4,
        "passed": 2,
        "failed": 1,
        "errors": 0,
        "skipped": 1,
        "coverage": result.summary["coverage"],
    }
    failed = by_name["test: test_calc::test_divide_is_wrong"]
    assert failed.status is Status.FAIL
    assert failed.location.path == "test_calc.py" and failed.location.line == FAILING_LINE
    assert "assert 0.25 == 0.5" in failed.why
    assert by_name["failures"].status is Status.FAIL and by_name["failures"].value == 1
    assert by_name["errors"].status is Status.PASS


def test_coverage_from_cobertura_written_by_coverage_py(pytest_reports):
    root = ET.parse(pytest_reports / "coverage.xml").getroot()
    expected = round(float(root.get("line-rate")) * 100, 2)
    assert 50 < expected < 100  # never_called() is not covered
    section = {"junit": "junit.xml", "coverage": "coverage.xml", "min_coverage": 50, "max_failures": 1}
    result = testsuite.run(section, context(pytest_reports))
    coverage = checks(result)["coverage"]
    assert coverage.value == expected == result.summary["coverage"]
    assert coverage.status is Status.PASS
    assert coverage.details["lines_valid"] == int(root.get("lines-valid"))
    assert coverage.details["least_covered"][0][0] == "calc.py"
    section["min_coverage"] = 99
    coverage = checks(testsuite.run(section, context(pytest_reports)))["coverage"]
    assert (
        coverage.status is Status.FAIL
        and f"line coverage % {coverage.value:g} is below the minimum 99" in coverage.why
    )


def test_limits_on_skips_and_test_count(pytest_reports):
    section = {"junit": ["junit.xml"], "max_failures": 1, "max_skipped": 0, "min_tests": 10}
    by_name = checks(testsuite.run(section, context(pytest_reports)))
    assert by_name["failures"].status is Status.PASS
    assert by_name["skipped"].status is Status.FAIL
    assert by_name["tests_run"].status is Status.FAIL and by_name["tests_run"].value == 4


def test_run_pytest_through_the_cli(cli, tmp_path):
    write_project(tmp_path)
    result = cli(
        "--report-dir",
        "reports",
        "tests",
        "--run-pytest",
        "test_calc.py -q",
        "--cov-source",
        "calc",
        "--min-coverage",
        "50",
    )
    assert result.code == 1, result.stderr
    assert "tests/test: test_calc::test_divide_is_wrong fail: failed: assert 0.25 == 0.5" in result.stdout
    report = json.loads((tmp_path / "reports" / "tests.json").read_text())
    by_name = {c["name"]: c for c in report["gates"][0]["checks"]}
    assert by_name["coverage"]["status"] == "pass" and 50 < by_name["coverage"]["value"] < 100
    assert report["gates"][0]["summary"]["total"] == 4
    assert not (tmp_path / ".coverage").exists()  # coverage data stays out of the project
    missing = cli("--report-dir", "reports", "tests", "--junit", "nothing*.xml")
    assert missing.code == 2 and missing.stderr_lines == [
        "mlgate: error: " + str(tmp_path / "nothing*.xml") + ": no JUnit file matches"
    ]


def test_annotation_points_at_the_failing_line(cli, pytest_reports, monkeypatch):
    monkeypatch.chdir(pytest_reports)
    result = cli(
        "--no-audit",
        "tests",
        "--junit",
        str(pytest_reports / "junit.xml"),
        env={"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(pytest_reports)},
    )
    assert result.code == 1
    assert (
        f"::error title=mlgate tests%3A test%3A test_calc%3A%3Atest_divide_is_wrong,file=test_calc.py,"
        f"line={FAILING_LINE}::failed: assert 0.25 == 0.5"
    ) in result.stdout


def test_all_green_run_passes(tmp_path):
    (tmp_path / "junit.xml").write_text(
        textwrap.dedent("""\
        <testsuite name="s" tests="2"><testcase classname="a" name="one"/><testcase classname="a" name="two"/>
        </testsuite>""")
    )
    result = testsuite.run({"junit": "*.xml"}, context(tmp_path))
    assert result.status is Status.PASS
    assert set(checks(result)) == {"failures", "errors"}


def test_no_test_cases_is_an_error_not_a_pass():
    result = testsuite.evaluate(JUnitRun(), None, {})
    assert result.status is Status.ERROR
    assert "no test cases" in checks(result)["tests_run"].why


def test_min_coverage_without_a_report_is_an_error():
    result = testsuite.evaluate(JUnitRun(), None, {"min_coverage": 80})
    assert checks(result)["coverage"].status is Status.ERROR


def test_missing_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="give junit files"):
        testsuite.run({}, context(tmp_path))
    with pytest.raises(InputError, match="reports/\\*.xml: no JUnit file matches"):
        testsuite.run({"junit": "reports/*.xml"}, context(tmp_path))
    (tmp_path / "j.xml").write_text("<testsuite/>")
    with pytest.raises(InputError, match="cov.xml: input file not found"):
        testsuite.run({"junit": "j.xml", "coverage": "cov.xml"}, context(tmp_path))


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "readers"


def test_reruns_and_teardown_errors_from_real_pytest_plugins(tmp_path):
    """pytest-rerunfailures and pytest-xdist output: every result counts (issue 13)."""
    for name in ("pytest-rerun.xml", "pytest-xdist.xml"):
        result = testsuite.run({"junit": str(FIXTURES / name)}, context(tmp_path))
        assert result.summary == {
            "total": 9,
            "passed": 3,
            "failed": 3,
            "errors": 1,
            "skipped": 1,
            "flaky": 1,
        }
        by_name = checks(result)
        assert result.status is Status.ERROR  # the skipped test's teardown error
        assert by_name["flaky"].status is Status.FAIL and by_name["flaky"].value == 1
        assert by_name["test: test_outcomes::test_rerun_then_pass"].why == "flaky: failed on 1 of 2 attempts"
        allowed = testsuite.run(
            {"junit": str(FIXTURES / name), "max_flaky": 1, "max_failures": 3, "max_errors": 1},
            context(tmp_path),
        )
        assert checks(allowed)["flaky"].status is Status.PASS


@pytest.mark.parametrize(
    ("report", "expected", "fmt"),
    [
        ("coverage.lcov", 77.78, "lcov"),
        ("jacoco.xml", 66.67, "jacoco"),
        ("coverage-cobertura.xml", 77.78, "cobertura"),
    ],
)
def test_coverage_formats_chosen_by_content(cli, tmp_path, report, expected, fmt):
    copy = tmp_path / "coverage.report"  # the name says nothing: the content decides
    copy.write_bytes((FIXTURES / report).read_bytes())
    result = cli(
        "--report-dir", "reports", "tests", "--junit", str(FIXTURES / "ant-junit.xml"), "--coverage", str(copy),
        "--min-coverage", "50",
    )  # fmt: skip
    assert result.code == 1, result.stdout + result.stderr  # the Ant file holds one failed test
    report_json = json.loads((tmp_path / "reports" / "tests.json").read_text())
    coverage = {c["name"]: c for c in report_json["gates"][0]["checks"]}["coverage"]
    assert coverage["value"] == expected and coverage["details"]["format"] == fmt


def test_unreadable_coverage_is_an_input_error(cli, tmp_path):
    (tmp_path / "cov.txt").write_text("mode: set\nx.go:1.1,2.2 1 1\n")
    result = cli(
        "--report-dir",
        "reports",
        "tests",
        "--junit",
        str(FIXTURES / "ant-junit.xml"),
        "--coverage",
        "cov.txt",
    )
    assert result.code == 2
    assert result.stderr_lines == [
        f"mlgate: error: {tmp_path / 'cov.txt'}: line 1: expected an LCOV record starting with 'SF:', got 'mode: set'"
    ]
