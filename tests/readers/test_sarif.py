"""SARIF 2.1.0 from ruff, bandit, gitleaks and trivy: rule lookup, severity, suppressions, locations."""

from __future__ import annotations

from gates.readers import sarif
from tests.readers.vuln_fixtures import by_id, report


def test_trivy_sarif_is_normalised():
    found = by_id(report("trivy-config.sarif").findings)
    assert found["KSV014"].severity == "high"  # security-severity 8.0
    assert found["KSV014"].location == "k8s/deployment.yaml" and found["KSV014"].line == 21
    assert found["KSV011"].severity == "low"
    assert (found["KSV011"].scanner_suppressed or "").startswith("Trivy: CPU limits")


def test_ruff_sarif_file_uris_become_paths():
    found = by_id(report("reports/ruff-0.17.sarif").findings)
    assert found["S301"].location == "/tmp/vfx/proj/app.py" and found["S301"].line == 7
    assert found["S301"].severity == "high"  # ruff writes level error for every rule


def test_bandit_severity_comes_from_issue_severity():
    found = by_id(report("reports/bandit-1.9.sarif").findings)
    assert (found["B602"].severity, found["B301"].severity, found["B105"].severity) == (
        "high",
        "medium",
        "low",
    )


def test_semgrep_in_source_suppression_is_listed():
    """`# nosemgrep` gives a suppression of kind inSource without a status: accepted, so listed as suppressed."""
    findings = report("reports/semgrep-1.187.sarif").findings
    assert [(f.id, f.severity, f.scanner_suppressed) for f in findings] == [
        ("pickle-loads", "high", None),  # rule security-severity 8.8
        ("shell-true", "medium", None),  # rule defaultConfiguration level warning
        ("pickle-loads", "high", "Semgrep OSS: suppressed (inSource)"),
    ]


def test_gitleaks_results_without_rule_id_and_suppressed_results():
    findings = report("reports/gitleaks-8.sarif").findings
    assert [(f.id, f.location, bool(f.scanner_suppressed)) for f in findings] == [
        ("aws-access-token", "deploy/env.sh", False),  # by ruleIndex
        ("generic-api-key", "tests/fixtures/settings.py", False),  # by the message's first word
        ("generic-api-key", "docs/example.md", True),  # listed as suppressed, not dropped
    ]
    assert findings[2].scanner_suppressed == "gitleaks: documentation placeholder, not a key"


def test_rule_index_is_used_when_a_rule_has_no_id():
    """A result without ruleId names its rule by ruleIndex; a rule without an id must not stand in for it."""
    rules = [{"name": "no-id"}, {"id": "R2", "properties": {"security-severity": "9.1"}}]
    data = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "scan", "rules": rules}}, "results": [{"ruleIndex": 1}]}],
    }
    [finding] = sarif.read(data, "report.sarif")
    assert (finding.id, finding.severity) == ("R2", "critical")


def test_suppressions_under_review_and_passing_results():
    results = [
        {"ruleId": "A", "suppressions": [{"kind": "inSource", "status": "underReview"}]},
        {"ruleId": "B", "suppressions": [{"kind": "inSource", "status": "rejected"}, {"kind": "external"}]},
        {"ruleId": "C", "kind": "pass"},
        {"ruleId": "D", "baselineState": "absent"},
    ]
    data = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": results}]}
    found = by_id(sarif.read(data, "r.sarif"))
    assert set(found) == {"A", "B"}
    assert (
        found["A"].scanner_suppressed is None and found["B"].scanner_suppressed == "t: suppressed (external)"
    )
