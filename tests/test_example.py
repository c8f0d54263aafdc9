"""The bundled example: `mlgate --policy examples/gates.yml run` passes the candidate and writes every report;
the regressed candidate fails against the baseline beyond its margin. Reports go to tmp_path, not the repo."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from gates.commands.session import Session
from gates.core.audit import verify
from tests.conftest import clean_environ

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "gates.yml"
REGRESSED = REPO / "examples" / "data" / "regressed_predictions.csv"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """One full `mlgate --policy examples/gates.yml run`, reports and audit trail redirected to a temp dir."""
    out = tmp_path_factory.mktemp("example")
    command = [
        sys.executable,
        "-m",
        "gates.cli",
        "--policy",
        str(EXAMPLE),
        "--report-dir",
        str(out / "reports"),
        "--audit-log",
        str(out / "audit.jsonl"),
        "run",
    ]
    completed = subprocess.run(
        command, cwd=out, capture_output=True, text=True, env=clean_environ(), timeout=300, check=False
    )
    return out, completed


def test_example_run_passes_and_prints_a_table(example_run):
    _, completed = example_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["gate", "check", "status", "value", "interval", "threshold"]
    assert set(lines[1]) <= {"-", " "}
    for row in (
        ["tests", "coverage"],
        ["metrics", "roc_auc"],
        ["metrics", "roc_auc_vs_baseline"],
        ["latency", "p95"],
        ["bias", "four_fifths"],
        ["drift", "dataset_drift"],
    ):
        assert any(line.split()[:2] == row for line in lines), row
    assert lines[-1].startswith(
        "verdict: tests pass, metrics pass, latency pass, bias pass, data pass, drift pass"
    )


def test_example_run_writes_every_report(example_run):
    out, _ = example_run
    reports = out / "reports"
    document = json.loads((reports / "mlgate.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert document["exit_code"] == 0 and document["status"] in ("pass", "warn")
    gates = {g["gate"]: g for g in document["gates"]}
    assert {"tests", "metrics", "latency"} <= set(gates)
    assert all(g["status"] in ("pass", "warn") for g in gates.values())
    metrics = gates["metrics"]
    assert metrics["evidence"]["rows"] > 1000 and metrics["evidence"]["bootstrap"]["seed"] == 7
    assert {c["name"] for c in metrics["checks"]} >= {
        "roc_auc",
        "accuracy",
        "recall",
        "brier",
        "roc_auc_vs_baseline",
        "brier_vs_baseline",
    }
    assert gates["tests"]["summary"]["failed"] == 0 and gates["tests"]["summary"]["coverage"] >= 80
    summary = (reports / "summary.md").read_text()
    assert "mlgate: pass" in summary.splitlines()[0] or "mlgate: warn" in summary.splitlines()[0]
    assert "### " in summary and "| roc_auc_vs_baseline |" in summary
    suites = ET.parse(reports / "junit.xml").getroot().findall("testsuite")
    assert {s.get("name") for s in suites} >= {"tests", "metrics", "latency"}
    assert all(s.get("failures") == "0" and s.get("errors") == "0" for s in suites)
    for name in ("report.html", "metrics.json", "tests.json", "latency.json"):
        assert (reports / name).is_file()


def test_example_run_appends_to_the_audit_trail(example_run):
    out, _ = example_run
    trail = out / "audit.jsonl"
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [r["gate"] for r in records][:3] == ["tests", "metrics", "latency"]
    metrics = next(r for r in records if r["gate"] == "metrics")
    assert {Path(p).name for p in metrics["inputs"]} == {
        "mitigated_predictions.csv",
        "baseline_predictions.csv",
    }
    assert metrics["policy"]["source"] == "gates.yml"
    assert verify(trail).ok


def test_example_reports_default_next_to_the_repository():
    session = Session(policy_path=EXAMPLE)
    assert session.resolved_report_dir().resolve() == REPO / "mlgate-reports"
    assert session.audit_path().resolve() == REPO / "mlgate-reports" / "audit.jsonl"


def test_regressed_candidate_fails_against_the_baseline(cli, tmp_path):
    result = cli(
        "--policy",
        EXAMPLE,
        "--report-dir",
        "reports",
        "--audit-log",
        "audit.jsonl",
        "metrics",
        "--predictions",
        REGRESSED,
        "--resamples",
        "200",
    )
    assert result.code == 1, result.stderr
    assert result.stderr == ""
    report = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    checks = {c["name"]: c for c in report["gates"][0]["checks"]}
    auc = checks["roc_auc_vs_baseline"]
    assert auc["status"] == "fail"
    assert auc["details"]["difference"] < -auc["details"]["margin"] == -0.015
    assert auc["ci"][1] < -0.015  # the whole interval is beyond the margin
    assert checks["brier_vs_baseline"]["status"] == "fail"
    assert "metrics/roc_auc_vs_baseline fail: roc_auc difference (candidate" in result.stdout
    assert verify(tmp_path / "audit.jsonl").ok


def test_regressed_candidate_in_a_copied_policy(cli, tmp_path):
    policy = yaml.safe_load(EXAMPLE.read_text())
    metrics = policy["metrics"]
    metrics["predictions"] = str(REGRESSED)
    metrics["baseline"]["predictions"] = str(EXAMPLE.parent / metrics["baseline"]["predictions"])
    metrics["bootstrap"] = {"resamples": 200}
    (tmp_path / "gates.yml").write_text(
        yaml.safe_dump({"version": 1, "defaults": policy["defaults"], "metrics": metrics})
    )
    result = cli("--policy", "gates.yml", "run")
    assert result.code == 1
    assert "verdict: metrics fail" in result.stdout
    assert (tmp_path / "mlgate-reports" / "junit.xml").is_file()
    # the same policy with the good candidate passes
    metrics["predictions"] = str(EXAMPLE.parent / "data" / "candidate_predictions.csv")
    (tmp_path / "gates.yml").write_text(
        yaml.safe_dump({"version": 1, "defaults": policy["defaults"], "metrics": metrics})
    )
    assert cli("--policy", "gates.yml", "run").code == 0


def test_example_drift_reads_the_reference_table_not_a_stored_profile(example_run):
    """`reference` wins over `profile` in examples/gates.yml, so a fresh clone needs no `mlgate drift profile`."""
    out, _ = example_run
    report = json.loads((out / "reports" / "drift.json").read_text())
    reference = report["gates"][0]["evidence"]["reference"]
    assert reference["kind"] == "table" and Path(reference["source"]).name == "reference.parquet"


def test_drifted_copy_fails_the_example_policy(cli, tmp_path):
    drifted = REPO / "examples" / "data" / "current_drifted.parquet"
    result = cli(
        "--policy",
        EXAMPLE,
        "--report-dir",
        "reports",
        "--no-audit",
        "drift",
        "--current",
        drifted,
    )
    assert result.code == 1, result.stdout + result.stderr
    assert (
        "data set drift: 5 of 9 columns drifted (income, debt_ratio, num_open_accounts, employment, region)"
        in result.stdout
    )
    report = json.loads((tmp_path / "reports" / "drift.json").read_text())
    assert report["gates"][0]["evidence"]["drifted"] == [
        "income",
        "debt_ratio",
        "num_open_accounts",
        "employment",
        "region",
    ]
    assert "verdict: drift fail" in result.stdout
