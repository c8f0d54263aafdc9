"""Every output format carries the same verdict, strings are escaped for each, and failures still write all."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gates.core.result import Check, Finding, GateResult, Location, Status, exit_code, worst
from gates.formats import Output, annotate, console, markdown, outputs, write_all

ALL_FILES = {"mlgate.json", "junit.xml", "report.html", "summary.md"}


def result_with(*statuses: Status, gate: str = "metrics") -> GateResult:
    checks = [
        Check(
            f"check_{i}",
            s,
            f"reason {i}: {s.value}",
            value=0.5 + i / 10,
            ci=(0.4, 0.9),
            threshold=">= 0.5 (point)",
        )
        for i, s in enumerate(statuses)
    ]
    return GateResult(
        gate=gate,
        checks=checks,
        summary={"roc_auc": 0.8123, "rows": 10},
        evidence={"tables": {"All metrics": "| a | b |\n|---|---|\n| 1 | 2 |"}},
    )


def strict_json(path: Path) -> dict:
    def reject(constant: str):
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def parse_github_output(text: str) -> dict[str, str]:
    """The runner's parser for `name<<DELIMITER` blocks: the value is every line up to the delimiter line."""
    values, lines, i = {}, text.split("\n"), 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        values[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return values


def write(tmp_path: Path, results: list[GateResult], actions: bool = True, capsys=None) -> dict:
    env = {
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    if actions:
        env["GITHUB_ACTIONS"] = "true"
    out = Output(report_dir=tmp_path / "reports", env=env)
    code = exit_code(results)
    written = write_all(results, out, code)
    return {"out": out, "code": code, "written": written}


SCENARIOS = {
    "pass": [result_with(Status.PASS, Status.PASS), result_with(Status.PASS, gate="latency")],
    "warn": [result_with(Status.PASS, Status.WARN), result_with(Status.PASS, gate="latency")],
    "fail": [result_with(Status.PASS, Status.FAIL, Status.WARN), result_with(Status.PASS, gate="latency")],
    "error": [result_with(Status.FAIL, Status.ERROR), result_with(Status.FAIL, gate="latency")],
    "no checks": [GateResult(gate="metrics")],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_verdict_is_identical_in_every_format(tmp_path, capsys, scenario):
    results = SCENARIOS[scenario]
    overall = worst([r.status for r in results]).value
    written = write(tmp_path, results)
    reports = tmp_path / "reports"
    assert ALL_FILES <= {p.name for p in reports.iterdir()}

    document = strict_json(reports / "mlgate.json")
    assert document["status"] == overall
    assert document["exit_code"] == written["code"] == (0 if overall in ("pass", "warn") else 1)
    assert document["schema_version"] == "1.0"
    assert_valid_report(document)
    for gate, result in zip(document["gates"], results):
        assert gate["status"] == result.status.value
        assert strict_json(reports / f"{result.gate}.json")["gates"][0] == gate

    suites = ET.parse(reports / "junit.xml").getroot().findall("testsuite")
    for suite, result in zip(suites, results):
        counts = result.counts()
        assert suite.get("name") == result.gate
        assert int(suite.get("failures")) == counts["fail"] == len(suite.findall("testcase/failure"))
        if result.checks:
            assert int(suite.get("tests")) == len(result.checks) == len(suite.findall("testcase"))
            assert int(suite.get("errors")) == counts["error"] == len(suite.findall("testcase/error"))
        else:  # no checks: an error test case, never an empty (green) suite
            assert suite.get("tests") == suite.get("errors") == "1"
            assert len(suite.findall("testcase/error")) == 1
    junit_verdict = (
        "error"
        if any(int(s.get("errors")) for s in suites)
        else "fail"
        if any(int(s.get("failures")) for s in suites)
        else "pass or warn"
    )
    assert junit_verdict == (overall if overall in ("fail", "error") else "pass or warn")

    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.splitlines()[0].endswith(f"mlgate: {overall}")
    assert (tmp_path / "step_summary").read_text(encoding="utf-8").startswith(summary)

    values = parse_github_output((tmp_path / "github_output").read_text(encoding="utf-8"))
    assert values["status"] == overall
    assert values["exit-code"] == str(written["code"])
    assert values["failed-checks"] == str(sum(r.counts()["fail"] + r.counts()["error"] for r in results))
    for result in results:
        assert values[f"{result.gate}-status"] == result.status.value

    html = (reports / "report.html").read_text(encoding="utf-8")
    assert f"<title>mlgate report: {overall}</title>" in html

    annotations = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    failing = sum(1 for r in results for c in r.checks if c.status is not Status.PASS)
    failing += sum(1 for r in results if not r.checks)
    assert len(annotations) == failing
    assert any(line.startswith("::error ") for line in annotations) == (overall in ("fail", "error"))


def test_github_output_survives_newlines_and_a_fake_delimiter(tmp_path):
    nasty = "line one\nghadelimiter_0123456789abcdef\nstatus<<EOF\npass\nEOF\nlast=line"
    result = GateResult(
        gate="metrics",
        checks=[Check("c", Status.FAIL, "why")],
        summary={"note": nasty, "roc_auc": 0.75, "two_words": [1, 2]},
    )
    write(tmp_path, [result])
    values = parse_github_output((tmp_path / "github_output").read_text(encoding="utf-8"))
    assert values["metrics-note"] == nasty
    assert values["status"] == "fail"  # not overwritten by the fake block inside the value
    assert values["metrics-roc-auc"] == "0.75"
    assert values["metrics-two-words"] == "[1, 2]"
    assert values["report"].endswith("mlgate.json")
    delimiters = [
        line.split("<<", 1)[1]
        for line in (tmp_path / "github_output").read_text().splitlines()
        if "<<ghadelimiter_" in line
    ]
    assert len(set(delimiters)) == len(delimiters)  # one random delimiter per value


def test_format_outputs_regenerates_a_delimiter_found_in_the_value(monkeypatch):
    tokens = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(outputs.secrets, "token_hex", lambda n: next(tokens))
    text = outputs.format_outputs({"k": "x\nghadelimiter_aaaa\ny"})
    assert text == "k<<ghadelimiter_bbbb\nx\nghadelimiter_aaaa\ny\nghadelimiter_bbbb\n"
    assert parse_github_output(text) == {"k": "x\nghadelimiter_aaaa\ny"}


def test_annotation_escaping(tmp_path):
    check = Check(
        "auc: a,b",
        Status.FAIL,
        "50% worse\r\nsecond: line, too",
        location=Location(str(tmp_path / "dir,x" / "t:1.py"), 7, 3),
    )
    warn = Check("noisy", Status.WARN, "maybe")
    out = Output(report_dir=tmp_path, env={"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)})
    lines = annotate.lines(
        [GateResult(gate="tests", checks=[check, warn, Check("ok", Status.PASS, "fine")])], out
    )
    assert lines == [
        "::error title=mlgate tests%3A auc%3A a%2Cb,file=dir%2Cx/t%3A1.py,line=7,col=3::50%25 worse%0D%0Asecond: line, too",
        "::warning title=mlgate tests%3A noisy::maybe",
    ]


def test_annotations_only_inside_github_actions(tmp_path, capsys):
    results = [result_with(Status.FAIL, Status.WARN)]
    write(tmp_path / "plain", results, actions=False)
    assert "::" not in capsys.readouterr().out
    out = Output(report_dir=tmp_path / "x", env={"GITHUB_ACTIONS": "false"})
    assert annotate.write(results, out) == []
    assert "::" not in capsys.readouterr().out
    write(tmp_path / "actions", results, actions=True)
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("::error title=mlgate metrics%3A check_0::") for line in printed)
    assert any(line.startswith("::warning ") for line in printed)


def test_no_github_files_outside_actions(tmp_path):
    out = Output(report_dir=tmp_path / "r", env={})
    written = write_all([result_with(Status.PASS)], out, 0)
    assert {p.name for p in written} == {
        "mlgate.json",
        "metrics.json",
        "junit.xml",
        "report.html",
        "summary.md",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_markdown_and_html_escape_cell_content(tmp_path):
    check = Check("a|b", Status.FAIL, "pipe | and\nnewline <script>alert(1)</script>", threshold="x|y")
    result = GateResult(gate="g<1>", checks=[check])
    text = markdown.render([result])
    row = next(line for line in text.splitlines() if line.startswith("| a"))
    assert row.startswith("| a\\|b |") and "pipe \\| and newline" in row and "x\\|y" in row
    write(tmp_path, [result], actions=False)
    html = (tmp_path / "reports" / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html and "g&lt;1&gt;" in html
    assert html.count("<script>") == 1  # the page's own sorting and filtering script, nothing injected


def test_json_report_never_holds_nan(tmp_path):
    check = Check("m", Status.ERROR, "undefined", value=float("nan"), ci=(float("nan"), float("inf")))
    result = GateResult(
        gate="metrics",
        checks=[check],
        evidence={"metrics": {"c:roc_auc": float("nan")}},
        summary={"x": float("-inf")},
    )
    write(tmp_path, [result], actions=False)
    document = strict_json(tmp_path / "reports" / "mlgate.json")
    gate = document["gates"][0]
    assert gate["checks"][0]["value"] is None and gate["checks"][0]["ci"] == [None, None]
    assert gate["evidence"]["metrics"] == {"c:roc_auc": None} and gate["summary"] == {"x": None}


def test_sarif_one_file_per_category(tmp_path):
    findings = [
        Finding(
            "CVE-1", "error", "Bad. Really", "deps", Location(str(tmp_path / "req.txt"), 3), severity="high"
        ),
        Finding("CVE-2", "warning", "Meh", "deps", suppressed="accepted risk"),
        Finding("PICKLE", "error", "unsafe", "artifacts"),
    ]
    result = GateResult(gate="security", checks=[Check("c", Status.FAIL, "x")], findings=findings)
    written = write(tmp_path, [result], actions=False)["written"]
    sarif = sorted(p.name for p in written if p.suffix == ".sarif")
    assert sarif == ["security-artifacts.sarif", "security-deps.sarif"]
    deps = strict_json(tmp_path / "reports" / "security-deps.sarif")
    run = deps["runs"][0]
    assert deps["version"] == "2.1.0" and run["automationDetails"]["id"] == "mlgate/security/deps/"
    assert [r["ruleId"] for r in run["results"]] == ["CVE-1", "CVE-2"]
    location = run["results"][0]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "req.txt"}, "region": {"startLine": 3}}
    assert run["results"][1]["suppressions"][0]["justification"] == "accepted risk"
    values = parse_github_output((tmp_path / "github_output").read_text())
    assert json.loads(values["sarif"]) == [str(p) for p in written if p.suffix == ".sarif"]


def test_console_table(tmp_path):
    import io

    stream = io.StringIO()
    console.render(SCENARIOS["fail"], stream)
    text = stream.getvalue()
    assert text.splitlines()[0].split() == ["gate", "check", "status", "value", "interval", "threshold"]
    assert "metrics/check_1 fail: reason 1: fail" in text
    assert "metrics/check_2 warn: reason 2: warn" in text
    assert text.rstrip().endswith("verdict: metrics fail, latency pass")
    assert "\x1b[" not in text


def test_failing_gate_from_the_cli_writes_every_format(cli, tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"label": rng.integers(0, 2, 100), "score": rng.uniform(size=100)}).to_csv(
        tmp_path / "p.csv", index=False
    )
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.txt"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    result = cli("metrics", "--predictions", "p.csv", "--min", "roc_auc=0.9", "--resamples", "100", env=env)
    assert result.code == 1
    assert "::error title=mlgate metrics%3A roc_auc::roc_auc " in result.stdout
    reports = tmp_path / "mlgate-reports"
    assert ALL_FILES | {"metrics.json", "audit.jsonl"} <= {p.name for p in reports.iterdir()}
    values = parse_github_output((tmp_path / "out.txt").read_text())
    assert values["status"] == "fail" and values["exit-code"] == "1" and values["metrics-status"] == "fail"
    assert "metrics-roc-auc" in values
    assert strict_json(reports / "mlgate.json")["status"] == "fail"
    assert "mlgate: fail" in (tmp_path / "summary.txt").read_text()
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1" and suite.get("errors") == "0"


# -- the JSON report's schema ---------------------------------------------------------------------------------------
def assert_valid_report(document: dict) -> None:
    """The report against the shipped gates/schema/report.schema.json, every error listed."""
    import jsonschema

    from gates.core.result import report_schema

    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors


def assert_valid_reports(reports: Path) -> int:
    """Every JSON report in a report folder (the combined one and one per gate) is valid; returns how many."""
    documents = [strict_json(path) for path in sorted(reports.glob("*.json"))]
    documents = [d for d in documents if "schema_version" in d]
    for document in documents:
        assert_valid_report(document)
    return len(documents)


def test_report_schema_matches_the_version_and_ships_in_the_package():
    import fnmatch
    import re

    from gates.core.result import REPORT_SCHEMA_VERSION, report_schema

    schema = report_schema()
    assert schema["properties"]["schema_version"]["const"] == REPORT_SCHEMA_VERSION
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    package_data = re.search(r"\[tool\.setuptools\.package-data\]\s*gates\s*=\s*\[([^\]]*)\]", pyproject)
    assert package_data, "pyproject.toml has no package-data for gates"
    patterns = re.findall(r'"([^"]+)"', package_data.group(1))
    assert any(fnmatch.fnmatch("schema/report.schema.json", p) for p in patterns)


def test_every_written_report_is_valid_against_the_schema(tmp_path):
    findings = [
        Finding(
            "CVE-1",
            "error",
            "bad",
            "deps",
            Location(str(tmp_path / "req.txt"), 3, 1),
            severity="high",
            properties={"fixed": ["1.2"]},
        ),
        Finding("R2", "note", "meh", "artifacts", suppressed="accepted"),
    ]
    results = [
        *SCENARIOS["error"],
        GateResult(gate="metrics"),
        GateResult(
            gate="security",
            checks=[Check("c", Status.FAIL, "x", value="3 findings", location=Location("a.py", 1))],
            findings=findings,
        ),
        GateResult(
            gate="bias",
            checks=[
                Check(
                    "m",
                    Status.ERROR,
                    "undefined",
                    value=float("nan"),
                    ci=(float("nan"), 1.0),
                    details={"x": float("inf")},
                )
            ],
        ),
    ]
    write(tmp_path, results, actions=False)
    assert assert_valid_reports(tmp_path / "reports") == 1 + len({r.gate for r in results})
    document = strict_json(tmp_path / "reports" / "mlgate.json")
    broken = json.loads(json.dumps(document))
    broken["gates"][0]["checks"][0]["status"] = "maybe"
    with pytest.raises(AssertionError, match="'maybe' is not one of"):
        assert_valid_report(broken)


def test_example_run_and_failing_runs_write_reports_valid_against_the_schema(cli, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    example = repo / "examples" / "gates.yml"
    passed = cli("--policy", example, "--report-dir", "example", "--no-audit", "run")
    assert passed.code == 0, passed.stdout + passed.stderr
    assert assert_valid_reports(tmp_path / "example") >= 7  # mlgate.json and one per gate
    failed = cli(
        "--policy",
        example,
        "--report-dir",
        "failed",
        "--no-audit",
        "metrics",
        "--predictions",
        repo / "examples" / "data" / "regressed_predictions.csv",
        "--resamples",
        "200",
    )
    assert failed.code == 1
    assert strict_json(tmp_path / "failed" / "mlgate.json")["status"] == "fail"
    assert assert_valid_reports(tmp_path / "failed") == 2
    broken = cli(
        "--report-dir",
        "broken",
        "--no-audit",
        "metrics",
        "--predictions",
        "absent.csv",
        "--min",
        "roc_auc=0.5",
    )
    assert broken.code == 2
    assert strict_json(tmp_path / "broken" / "mlgate.json")["exit_code"] == 2
    assert assert_valid_reports(tmp_path / "broken") == 2


# -- the canary in the step summary ---------------------------------------------------------------------------------
def canary_result(analyses: int = 3) -> GateResult:
    """A canary GateResult shaped as gates.deploy.canary.result_of builds it (evidence["analyses"])."""
    entries = []
    for i in range(analyses):
        failing = i == analyses - 1
        error_rate = {
            "metric": "error_rate",
            "classification": "high" if failing else "pass",
            "passed": not failing,
            "value": 0.05 if failing else 0.011,
            "why": "w",
            "details": {
                "kind": "ratio",
                "canary_value": 0.05 if failing else 0.011,
                "stable_value": 0.01,
                "canary": {"events": 5, "trials": 100},
                "stable": {"events": 1, "trials": 100},
            },
        }
        latency = {
            "metric": "p95|latency",
            "classification": "pass",
            "passed": True,
            "value": 0.2,
            "why": "w",
            "details": {"kind": "series", "canary_mean": 0.21, "stable_mean": 0.2},
        }
        limit = {
            "metric": "error_rate",
            "classification": "pass",
            "passed": True,
            "value": 0.05 if failing else 0.011,
            "why": "w",
            "details": {"kind": "ratio", "max": 0.1},
        }
        entries.append(
            {
                "step": min(i + 1, 2),
                "weight": 10 * (i + 1),
                "effective_weight": 10 * (i + 1) - 1,
                "outcome": "fail" if failing else "pass",
                "why": "judged",
                "judges": [
                    {"judge": "threshold", "outcome": "pass", "metrics": [limit]},
                    {
                        "judge": "compare",
                        "outcome": "fail" if failing else "pass",
                        "metrics": [error_rate, latency],
                    },
                ],
            }
        )
    checks = [Check("verdict", Status.FAIL, "rolled back", value="rolled_back")]
    return GateResult(
        gate="canary",
        checks=checks,
        evidence={"verdict": "rolled_back", "analyses": entries},
    )


def test_canary_summary_has_a_compact_table_of_analyses(tmp_path):
    text = markdown.render([canary_result()])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "% (" in line]
    passing = "| pass | error_rate: canary 0.011 vs stable 0.01 (pass); p95\\|latency: canary 0.21 vs stable 0.2 (pass) |"
    assert rows == [
        "| 1 | 10% (9%) " + passing,
        "| 2 | 20% (19%) " + passing,
        "| 2 | 30% (29%) | fail | error_rate: canary 0.05 vs stable 0.01 (high) |",  # only the decisive metric
    ]
    assert "| step | weight (effective) | outcome | canary vs stable |" in text
    chart = text.split("```mermaid\n", 1)[1].split("```", 1)[0]  # the timeline, drawn by GitHub
    assert "xychart-beta" in chart and 'title "error_rate: canary and stable per analysis"' in chart
    assert 'x-axis ["1: 10% (9%)", "2: 20% (19%)", "2: 30% (29%)"]' in chart
    assert "line [0.011, 0.011, 0.05]" in chart and "line [0.01, 0.01, 0.01]" in chart
    assert "Key: canary (blue); stable (orange)" in text
    assert "canary-timeline.png" not in text  # no pictures to link: the charts are in the summary itself
    write(tmp_path, [canary_result()], actions=False)
    html = (tmp_path / "reports" / "report.html").read_text()
    assert "<td>error_rate: canary 0.05 vs stable 0.01 (high)</td>" in html


def test_canary_summary_table_is_bounded():
    text = markdown.render([canary_result(45)])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "% (" in line]
    assert len(rows) == markdown.CANARY_ROWS
    assert rows[-1].startswith("| 2 | 450% (449%) | fail |")  # the last analyses, the deciding one included
    assert f"The last {markdown.CANARY_ROWS} of 45 analyses" in text
    assert markdown.canary_table(result_with(Status.PASS)) == ""  # other gates: no table


# -- GitHub's limits: annotations per step, summary size ------------------------------------------------------------
def many(gate: str, **counts: int) -> GateResult:
    checks = [
        Check(f"{status}_{i}", Status(status), f"{status} number {i}")
        for status, n in counts.items()
        for i in range(n)
    ]
    return GateResult(gate=gate, checks=checks)


def test_annotations_are_capped_per_level_most_severe_first(tmp_path):
    results = [many("tests", fail=20, warn=3), many("data", warn=15, error=6)]
    out = Output(report_dir=tmp_path / "r", env={"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)})
    lines = annotate.lines(results, out)
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(errors) == len(warnings) == 10 and len(lines) == 20
    assert lines[:10] == errors  # errors first
    assert all("mlgate data%3A error_" in line for line in errors[:6])  # status error before status fail
    assert all("mlgate tests%3A fail_" in line for line in errors[6:9])
    assert errors[9] == "::error title=mlgate::and 17 more failed checks: see the report (r/mlgate.json)"
    assert warnings[9] == "::warning title=mlgate::and 9 more warnings: see the report (r/mlgate.json)"
    few = annotate.lines([many("tests", fail=10, warn=10)], out)
    assert len(few) == 20 and not any("more" in line for line in few)  # exactly at the cap: nothing counted


def test_the_annotation_cap_holds_for_the_whole_process(tmp_path, capsys):
    from gates.formats import StepBudget

    budget = StepBudget()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)}
    for n in range(3):
        out = Output(report_dir=tmp_path / f"r{n}", env=env, budget=budget)
        annotate.write([many("tests", fail=4, warn=4)], out)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    assert sum(line.startswith("::error ") for line in printed) == 10
    assert sum(line.startswith("::warning ") for line in printed) == 10
    assert budget.annotations == {"error": 0, "warning": 0, "notice": 10}


def test_summary_stays_within_its_budget_header_first_most_severe_first():
    results = [
        many("tests", **{"pass": 300, "warn": 50, "fail": 400}),
        many("metrics", **{"pass": 5, "error": 2}),
    ]
    full = markdown.render(results)
    small = markdown.render(results, budget=20_000)
    assert len(full.encode()) > 40_000 and len(small.encode()) <= 20_000
    head = small.split("\n### ")[0]
    assert head == full.split("\n### ")[0]  # the verdict and the per-gate table are never cut
    assert "| tests | ❌ fail | fail_0 | – |  |  | 300 pass, 50 warn, 400 fail |" in head
    tests, metrics = small.split("\n### ")[1:]
    rows = [line for line in tests.splitlines() if line.startswith(("| fail_", "| warn_"))]
    assert rows and all(line.startswith("| fail_") for line in rows)  # failures before warnings
    shown = len(rows)
    assert (
        f"… and {750 - shown:,} more checks ({400 - shown:,} fail, 50 warn, 300 pass) in the report" in tests
    )
    assert (
        "| error_0 |" in metrics and "| error_1 |" in metrics
    )  # errors of a later gate come before failures


def test_summary_with_no_room_keeps_the_header_and_counts_the_rest():
    results = [many("tests", fail=50), many("latency", **{"pass": 3})]
    text = markdown.render(results, budget=0)
    assert text.startswith("## ❌ mlgate: fail\n\n| gate | status | deciding check | value | interval |")
    assert "| latency | ✅ pass | pass_0 | – |  |  | 3 pass |" in text
    assert "… and 50 more checks (50 fail) in the report artifact (`mlgate.json`)" in text
    assert "… and 3 more checks (3 pass)" in text


def test_summary_budget_counts_what_the_step_summary_already_holds(tmp_path):
    from gates.formats import GITHUB_SUMMARY_LIMIT

    step = tmp_path / "step_summary"
    step.write_bytes(b"x" * (GITHUB_SUMMARY_LIMIT - 30_000))  # an earlier step of this job wrote a lot
    out = Output(report_dir=tmp_path / "r", env={"GITHUB_STEP_SUMMARY": str(step)})
    write_all([many("tests", fail=2000)], out, 1)
    assert step.stat().st_size < GITHUB_SUMMARY_LIMIT
    assert "more checks (" in (tmp_path / "r" / "summary.md").read_text()


def test_report_only_note_in_the_summary(tmp_path):
    results = [many("tests", fail=1)]
    for fail_on, shown in (("fail", False), ("error", True), ("never", True)):
        out = Output(report_dir=tmp_path / fail_on, env={}, fail_on=fail_on)
        write_all(results, out, 1)
        text = (tmp_path / fail_on / "summary.md").read_text()
        assert (f"report-only (fail-on: {fail_on}): this verdict does not block" in text) == shown
        assert text.startswith("## ❌ mlgate: fail\n")  # the verdict itself is unchanged


# -- hostile names in workflow commands and in the log ---------------------------------------------------------------
def runner_parse(line: str) -> tuple[str, dict[str, str], str] | None:
    """What actions/runner (ActionCommand.TryParseV2) makes of one log line: command, properties, data."""

    def unescape(text: str, mapping: dict[str, str]) -> str:
        for token, replacement in mapping.items():
            text = text.replace(replacement, token)
        return text

    data_map = {"\r": "%0D", "\n": "%0A", "%": "%25"}
    property_map = {"\r": "%0D", "\n": "%0A", ":": "%3A", ",": "%2C", "%": "%25"}
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    properties = {}
    for item in props.strip().split(","):
        key, sep, value = item.partition("=")
        if sep and key and value:
            properties[key] = unescape(value, property_map)
    return name, properties, unescape(message[end + 2 :], data_map)


HOSTILE = [
    "a,b:c",
    "50% done %0A not a newline",
    "line\r\n::error::injected",
    "::add-mask::secret",
    "x\n::stop-commands::tok",
    "##[set-output name=status]pass",
    "title=evil,file=/etc/passwd",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_round_trip_through_annotations(tmp_path, capsys, text):
    path = tmp_path / f"dir{text.replace('/', '_')}" / "t.py"
    check = Check(text, Status.FAIL, text, location=Location(str(path), 3, 1))
    result = GateResult(gate="tests", checks=[check, Check("w", Status.WARN, text)])
    write(tmp_path, [result])
    printed = capsys.readouterr().out.splitlines()
    commands = [parsed for parsed in map(runner_parse, printed) if parsed]
    assert len(commands) == 2, printed  # exactly the two annotations: nothing injected
    (name, props, data), (wname, _, wdata) = commands
    assert name == "error" and data == text and props["title"] == f"mlgate tests: {text}"
    assert props["file"] == str(path.relative_to(tmp_path)) and props["line"] == "3" and props["col"] == "1"
    assert set(props) == {"title", "file", "line", "col"}
    assert wname == "warning" and wdata == text
    assert not any("##[" in line for line in printed if not line.startswith("::"))


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_cannot_become_commands_in_the_console_table(text):
    import io

    stream = io.StringIO()
    result = GateResult(gate="tests", checks=[Check(text, Status.FAIL, text, value=text, threshold=text)])
    console.render([result], stream)
    for line in stream.getvalue().splitlines():
        assert runner_parse(line) is None and "##[" not in line, line
    assert len(stream.getvalue().splitlines()) == 5  # header, rule, row, reason, verdict: no line break added


def test_summary_tables_first_passing_checks_collapsed_and_group_rates_charted():
    bars = {
        "rule": "four_fifths",
        "metric": "selection_rate",
        "by": "sex",
        "title": "four_fifths: selection_rate by sex",
        "groups": [
            {"group": "female", "value": 0.15, "ci": [0.13, 0.17], "n": 1499, "judged": True},
            {"group": 'x"y', "value": None, "ci": None, "n": 3, "judged": False},
        ],
        "overall": 0.155,
        "lines": [{"level": 0.12, "label": "0.8 × highest group"}],
    }
    passing = result_with(Status.PASS, gate="bias")
    passing.evidence["group_charts"] = [bars]
    failing = result_with(Status.FAIL, Status.PASS, gate="metrics")
    text = markdown.render([passing, failing])
    head, rest = text.split("\n### ", 1)
    assert "| metrics | ❌ fail | check_0 | 0.5 | [0.4, 0.9] | >= 0.5 (point) | 1 pass, 1 fail |" in head
    bias_section, metrics_section = rest.split("\n### ")
    assert "<details><summary>1 checks passed</summary>" in bias_section  # all pass: folded
    assert "<details>" not in metrics_section.split("| check_1 |")[0]  # a failing gate's checks are open
    chart = bias_section.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert "xychart-beta" in chart and 'x-axis ["female", "x\'y"]' in chart  # quotes cannot end the label
    assert "bar [0.15, 0]" in chart and "line [0.12, 0.12]" in chart
    assert 'Undefined (drawn as 0): x"y.' in bias_section
