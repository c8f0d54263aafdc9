"""The vulnerability sub-check: deduplication, severity cutoff, only-fixed, the ignore list, pip-audit runs, and
`mlgate security --vulns` end to end on reports of every format (exit 0 / 1 / 2)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.readers.findings import VulnFinding, deduplicate
from gates.readers.vulnerabilities import read_report
from gates.security import ignore as ignore_list
from gates.security import vulns

FIXTURES = Path(__file__).parent.parent / "fixtures" / "security"
REPORTS = FIXTURES / "reports"
TODAY = dt.date(2025, 6, 1)


def _read(name: str) -> list[VulnFinding]:
    return read_report(FIXTURES / name).findings


def test_same_vulnerability_from_three_scanners_is_one_finding():
    merged = deduplicate(_read("grype.json") + _read("trivy.json") + _read("pip-audit.json"))
    requests = [f for f in merged if f.package == "requests"]
    assert len(requests) == 1
    assert {s.split(":")[0] for s in requests[0].sources} == {"grype", "trivy", "pip-audit"}
    assert requests[0].ids == {"GHSA-9WX4-H78V-VM56", "CVE-2024-35195"}
    ssl = [f for f in merged if f.id == "CVE-2024-5535"]
    assert len(ssl) == 1 and ssl[0].severity == "critical"


# --- cutoff, only-fixed, ignore list ---------------------------------------------------------------------------


def _evaluate(findings, ignore=None, today=TODAY, **options):
    return vulns.evaluate(findings, ignore_list.parse_entries(ignore), vulns.Options(**options), today)


def test_severity_cutoff():
    findings = _read("grype.json")
    high = _evaluate(findings, severity="high")
    assert high.checks[0].status is Status.FAIL and high.checks[0].value == 2  # two criticals
    critical_only = _evaluate([f for f in findings if f.severity != "critical"], severity="high")
    assert critical_only.checks[0].status is Status.PASS
    assert critical_only.evidence["counts"]["below-cutoff"] == 2
    low = _evaluate(findings, severity="low")
    assert low.checks[0].value == 3  # medium counts now; negligible does not


def test_only_fixed_lists_unfixed_findings_without_failing_on_them():
    findings = _read("grype.json")
    part = _evaluate(findings, severity="high", only_fixed=True)
    assert part.checks[0].value == 1  # the fixed openssl CVE; zlib is wont-fix
    assert [f["id"] for f in part.evidence["findings"]["no-fix"]] == ["CVE-2023-45853"]
    levels = {f.rule_id: f.level for f in part.findings}
    assert levels["CVE-2024-5535"] == "error" and levels["CVE-2023-45853"] == "warning"


def test_unknown_severity_is_ranked_as_configured():
    findings = _read("pip-audit.json")
    assert _evaluate(findings, severity="high").checks[0].value == 2  # pip-audit has no severities: high
    assert _evaluate(findings, severity="high", unknown_severity="medium").checks[0].value == 0


def test_active_ignore_entry_suppresses_and_lists_the_finding():
    findings = [f for f in _read("grype.json") if f.id == "CVE-2024-5535"]
    entry = {
        "id": "CVE-2024-5535",
        "reason": "not reachable: no TLS server in the image",
        "expires": "2025-06-30",
    }
    part = _evaluate(findings, [entry])
    assert part.checks[0].status is Status.PASS
    assert [f["id"] for f in part.evidence["findings"]["suppressed"]] == ["CVE-2024-5535"]
    sarif = part.findings[0]
    assert sarif.suppressed.startswith("not reachable") and "2025-06-30" in sarif.suppressed
    assert "Suppressed by the ignore list" in part.tables


def test_expired_ignore_entry_flips_pass_into_fail_loudly():
    findings = [f for f in _read("grype.json") if f.id == "CVE-2024-5535"]
    entry = {"id": "CVE-2024-5535", "reason": "waiting for the base image", "expires": dt.date(2025, 5, 31)}
    on_last_day = _evaluate(findings, [entry], today=dt.date(2025, 5, 31))
    assert [c.status for c in on_last_day.checks] == [Status.PASS]
    next_day = _evaluate(findings, [entry], today=dt.date(2025, 6, 1))
    checks = {c.name: c for c in next_day.checks}
    assert checks["vulns"].status is Status.FAIL
    assert checks["vulns:ignore-expired"].status is Status.WARN
    assert (
        "EXPIRED" in checks["vulns:ignore-expired"].why and "2025-05-31" in checks["vulns:ignore-expired"].why
    )
    assert "EXPIRED ignore entries" in next_day.tables
    strict = _evaluate(findings, [entry], expired_ignore="fail")
    assert {c.name: c.status for c in strict.checks}["vulns:ignore-expired"] is Status.FAIL


def test_ignore_entry_matches_aliases_and_respects_package_and_version():
    findings = deduplicate(_read("grype.json") + _read("pip-audit.json"))
    by_alias = {"id": "CVE-2024-34064", "reason": "templates are not user input", "expires": "2030-01-01"}
    assert _evaluate(findings, [by_alias], severity="critical").evidence["counts"]["suppressed"] == 1
    other_pkg = {**by_alias, "package": "flask"}
    assert _evaluate(findings, [other_pkg]).evidence["counts"]["suppressed"] == 0
    assert _evaluate(findings, [other_pkg]).evidence["ignore_unused"] == ["CVE-2024-34064 in flask"]
    other_version = {**by_alias, "package": "jinja2", "version": "3.1.2"}
    assert _evaluate(findings, [other_version]).evidence["counts"]["suppressed"] == 0
    exact = {**by_alias, "package": "Jinja2", "version": "3.1.3"}
    assert _evaluate(findings, [exact]).evidence["counts"]["suppressed"] == 1


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"reason": "r", "expires": "2030-01-01"}, "'id'"),
        ({"id": "CVE-1", "expires": "2030-01-01"}, "'reason'"),
        ({"id": "CVE-1", "reason": "  ", "expires": "2030-01-01"}, "'reason'"),
        ({"id": "CVE-1", "reason": "r"}, "'expires'"),
        ({"id": "CVE-1", "reason": "r", "expires": "next year"}, "expected a date YYYY-MM-DD"),
    ],
)
def test_ignore_entries_need_id_reason_and_expiry(entry, message):
    with pytest.raises(InputError, match=message):
        ignore_list.parse_entries([entry])


def test_nothing_is_silently_dropped():
    findings = (
        _read("grype.json") + _read("trivy.json") + _read("pip-audit.json") + _read("trivy-config.sarif")
    )
    part = _evaluate(findings, [{"id": "CVE-2024-5535", "reason": "r", "expires": "2030-01-01"}])
    unique = len(deduplicate(findings))
    assert sum(part.evidence["counts"].values()) == unique == len(part.findings)


# --- pip-audit ---------------------------------------------------------------------------------------------------


def _fake_pip_audit(directory: Path, body: str) -> None:
    script = directory / "pip-audit"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def _ctx(base: Path) -> GateContext:
    return GateContext(base_dir=base, report_dir=base / "reports")


def test_pip_audit_unreachable_service_is_an_error_not_a_pass(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_pip_audit(
        bin_dir,
        "echo \"ERROR:pip_audit._cli:ConnectionError: HTTPSConnectionPool(host='pypi.org', "
        'port=443): Max retries exceeded" >&2\necho "Tip: your network may be blocking this '
        'service." >&2\nexit 1\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    part = vulns.check({"pip_audit": {"requirements": "requirements.txt"}}, _ctx(tmp_path), {}, TODAY)
    assert [c.status for c in part.checks] == [Status.ERROR]
    assert "could not be reached" in part.checks[0].why
    assert part.evidence["infra_error"] is True


def test_pip_audit_report_is_used(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # The fake writes the fixture to the --output file and exits 1, as pip-audit does when it finds something.
    _fake_pip_audit(
        bin_dir,
        f'while [ $# -gt 0 ]; do if [ "$1" = --output ]; then cp "{FIXTURES}/pip-audit.json" '
        f'"$2"; fi; shift; done\nexit 1\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\njinja2==3.1.3\n")
    part = vulns.check(
        {"pip_audit": {"requirements": ["requirements.txt"]}, "severity": "high"}, _ctx(tmp_path), {}, TODAY
    )
    assert part.checks[0].name == "vulns" and part.checks[0].status is Status.FAIL
    assert part.evidence["reports"][0]["skipped"][0]["name"] == "credit-model"
    assert all(f.location.path.endswith("requirements.txt") for f in part.findings)
    skipped = next(c for c in part.checks if c.name == "vulns:pip-audit-skipped")
    assert skipped.status is Status.WARN and "credit-model (Dependency not found on PyPI" in skipped.why


def test_pip_audit_report_with_skipped_dependencies_warns(tmp_path):
    part = vulns.check({"reports": [str(FIXTURES / "pip-audit.json")]}, _ctx(tmp_path), {}, TODAY)
    skipped = [c for c in part.checks if c.name == "vulns:pip-audit-skipped"]
    assert len(skipped) == 1 and skipped[0].status is Status.WARN and skipped[0].value == 1
    assert "1 dependency was not audited by pip-audit" in skipped[0].why and "credit-model" in skipped[0].why
    assert "\n" not in skipped[0].why
    data = json.loads((FIXTURES / "pip-audit.json").read_text())
    data["dependencies"] = [d for d in data["dependencies"] if "skip_reason" not in d]
    (tmp_path / "clean.json").write_text(json.dumps(data))
    part = vulns.check({"reports": [str(tmp_path / "clean.json")]}, _ctx(tmp_path), {}, TODAY)
    assert not [c for c in part.checks if c.name == "vulns:pip-audit-skipped"]


def test_pip_audit_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(vulns, "pip_audit_command", lambda: None)
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    strict = vulns.check({"pip_audit": {"requirements": "requirements.txt"}}, _ctx(tmp_path), {}, TODAY)
    assert [c.status for c in strict.checks] == [Status.ERROR]
    lenient = vulns.check(
        {
            "pip_audit": {"requirements": "requirements.txt", "if_available": True},
            "reports": [str(FIXTURES / "trivy.json")],
        },
        _ctx(tmp_path),
        {},
        TODAY,
    )
    assert [c.status for c in lenient.checks] == [Status.WARN, Status.FAIL]


def test_pip_audit_report_that_audited_nothing_is_an_error_not_a_pass(tmp_path):
    """pip-audit 2.10 offline skips every dependency and exits 0: no evidence, so the gate must not pass."""
    part = vulns.check({"reports": [str(REPORTS / "pip-audit-2.10-offline.json")]}, _ctx(tmp_path), {}, TODAY)
    statuses = {c.name: c.status for c in part.checks}
    assert statuses == {"vulns": Status.PASS, "vulns:pip-audit-skipped": Status.ERROR}
    why = next(c.why for c in part.checks if c.name == "vulns:pip-audit-skipped")
    assert "audited no dependency at all" in why and "requests" in why


def test_pip_audit_run_offline_is_an_infrastructure_error(tmp_path, monkeypatch):
    """The real offline output (every dependency skipped, exit 0) from a pip-audit that mlgate runs: exit 3."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_pip_audit(
        bin_dir,
        f'while [ $# -gt 0 ]; do if [ "$1" = --output ]; then cp "{REPORTS}/pip-audit-2.10-offline.json" '
        f'"$2"; fi; shift; done\nexit 0\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\njinja2==3.1.3\n")
    part = vulns.check({"pip_audit": {"requirements": "requirements.txt"}}, _ctx(tmp_path), {}, TODAY)
    assert {c.name: c.status for c in part.checks}["vulns:pip-audit-skipped"] is Status.ERROR
    assert part.evidence["infra_error"] is True


def test_cyclonedx_scan_fails_the_gate_and_lists_the_triaged_finding(tmp_path):
    part = vulns.check({"reports": [str(REPORTS / "cyclonedx-1.5-scan.json")]}, _ctx(tmp_path), {}, TODAY)
    assert part.checks[0].status is Status.FAIL and part.checks[0].value == 2  # the critical and the high CVE
    assert [f["id"] for f in part.evidence["findings"]["scanner-suppressed"]] == ["CVE-2023-31484"]
    assert part.evidence["reports"] == [
        {"path": str(REPORTS / "cyclonedx-1.5-scan.json"), "format": "cyclonedx", "findings": 3}
    ]


# --- the CLI: exit codes -----------------------------------------------------------------------------------------


def _cli(tmp_path: Path, monkeypatch, capsys, *reports: str) -> tuple[int, str]:
    from gates.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "MLGATE_POLICY"):
        monkeypatch.delenv(name, raising=False)
    argv = ["--report-dir", "r", "--no-audit", "security", "--rule", "k8s.pdb=off"]
    for name in reports:
        argv += ["--vulns", str(REPORTS / name)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    "name, code",
    [
        ("cyclonedx-1.5-scan.json", 1),  # was read as an empty pip-audit report and passed (issue 13)
        ("cyclonedx-1.6-scan.json", 1),
        ("trivy-k8s-resources.json", 1),
        ("gitleaks-8.sarif", 0),  # no level: SARIF's default, warning, ranks medium, below the default cutoff
        ("bandit-1.9.sarif", 1),
        ("cyclonedx-py-7.5-sbom.json", 2),
    ],
)
def test_exit_codes(tmp_path, monkeypatch, capsys, name, code):
    exit_code, err = _cli(tmp_path, monkeypatch, capsys, name)
    assert exit_code == code
    if code == 2:
        assert "an SBOM, not a vulnerability report" in err and "Traceback" not in err
