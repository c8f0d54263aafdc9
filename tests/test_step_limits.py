"""GitHub's per-step limits through the real tests gate: 10,000 failing JUnit tests give a job summary under
1 MiB, at most 10 error annotations, and a JSON report that still holds every failure."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from tests.test_formats import parse_github_output, runner_parse

FAILING = 10_000


def junit(path: Path, failing: int, passing: int = 50) -> None:
    cases = []
    for i in range(failing):
        message = f"assert {i} == {i + 1}: expected the model to agree on sample {i}, 100% of the time"
        cases.append(
            f"<testcase classname={quoteattr(f'tests.test_model_{i // 100}')} name={quoteattr(f'test_case_{i}')} "
            f'file="tests/test_model_{i // 100}.py" line="{i % 100 + 1}" time="0.01">'
            f"<failure message={quoteattr(message)}>{'x' * 200}</failure></testcase>"
        )
    cases += [f'<testcase classname="tests.ok" name="test_ok_{i}" time="0.01"/>' for i in range(passing)]
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest" '
        f'tests="{failing + passing}" failures="{failing}" errors="0" skipped="0">'
        + "".join(cases)
        + "</testsuite></testsuites>\n",
        encoding="utf-8",
    )


@pytest.fixture
def big_run(cli, tmp_path):
    junit(tmp_path / "junit.xml", FAILING)
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    return cli("--no-audit", "tests", "--junit", "junit.xml", env=env), tmp_path


def test_ten_thousand_failures_fit_github_limits(big_run):
    result, tmp_path = big_run
    assert result.code == 1, result.stderr

    summary = (tmp_path / "step_summary").read_bytes()
    assert len(summary) < 1024 * 1024 and len(summary) <= 900 * 1024 + 1
    text = summary.decode("utf-8")
    assert text.startswith(
        "## ❌ mlgate: fail\n\n| gate | status | deciding check | value | interval | threshold | checks |\n"
    )
    assert "| failures | ❌ fail | 10000 |" in text  # the count check is the first failure, so it is shown
    shown = text.count("| test: tests.test_model_")
    assert 1000 < shown < FAILING
    hidden = FAILING - shown  # failed tests left out; the passing errors-count check is left out too
    assert f"… and {hidden + 1:,} more checks ({hidden:,} fail, 1 pass)" in text
    assert "in the report artifact (`mlgate.json`)" in text

    commands = [parsed for parsed in map(runner_parse, result.stdout.splitlines()) if parsed]
    errors = [c for c in commands if c[0] == "error"]
    assert len(errors) == 10 and not [c for c in commands if c[0] != "error"]
    assert errors[0][1]["title"] == "mlgate tests: failures"  # most severe first, then in order
    assert errors[1][1] == {
        "title": "mlgate tests: test: tests.test_model_0::test_case_0",
        "file": "tests/test_model_0.py",
        "line": "1",
    }
    assert errors[9][2] == "and 9,992 more failed checks: see the report (mlgate-reports/mlgate.json)"

    report = json.loads((tmp_path / "mlgate-reports" / "mlgate.json").read_text())
    checks = report["gates"][0]["checks"]
    assert sum(1 for c in checks if c["name"].startswith("test: ") and c["status"] == "fail") == FAILING
    outputs = parse_github_output((tmp_path / "github_output").read_text())
    assert outputs["failed-checks"] == str(FAILING + 1) and outputs["status"] == "fail"
    assert outputs["blocking"] == "true"
    assert (tmp_path / "mlgate-reports" / "summary.md").read_bytes() + b"\n" == summary
