"""CycloneDX 1.4-1.6 vulnerabilities: ratings, affected components, fixed versions, analysis as suppression."""

from __future__ import annotations

import pytest

from gates.core.errors import InputError
from gates.readers.vulnerabilities import read_data
from tests.readers.vuln_fixtures import by_id, report


@pytest.mark.parametrize("name", ["reports/cyclonedx-1.5-scan.json", "reports/cyclonedx-1.6-scan.json"])
def test_scan_bom_is_normalised(name):
    found = by_id(report(name).findings)
    ssl = found["CVE-2024-5535"]
    assert (ssl.severity, ssl.cvss, ssl.package, ssl.version) == (
        "critical",
        9.1,
        "libssl3",
        "3.0.11-1~deb12u2",
    )
    assert (ssl.fixed_versions, ssl.fix_state) == (("3.0.14-1~deb12u2",), "fixed")  # the unaffected version
    requests = found["GHSA-9wx4-h78v-vm56"]
    assert (requests.severity, requests.aliases, requests.fix_state) == (
        "high",
        ("CVE-2024-35195",),
        "unknown",
    )
    assert found["CVE-2023-31484"].scanner_suppressed == (
        "cyclonedx: not affected (code_not_reachable, cpan is never run in the image)"
    )


def test_pip_audit_cyclonedx_has_no_ratings():
    found = report("reports/pip-audit-2.10.cdx.json").findings
    assert {(f.id, f.package, f.severity) for f in found} == {
        ("GHSA-9wx4-h78v-vm56", "requests", "unknown"),
        ("GHSA-h75v-3vvj-5mfj", "jinja2", "unknown"),
    }


def _bom(*vulns, components=()):
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": list(components),
        "vulnerabilities": list(vulns),
    }


def test_severity_is_the_gravest_rating_or_the_score_band():
    rated = {
        "id": "V1",
        "ratings": [{"severity": "medium"}, {"severity": "high", "score": 7.2}, {"severity": "info"}],
    }
    scored = {"id": "V2", "ratings": [{"score": 9.8, "method": "CVSSv31"}]}
    found = by_id(read_data(_bom(rated, scored), "cyclonedx", "b.json").findings)
    assert (found["V1"].severity, found["V1"].cvss) == ("high", 7.2)
    assert found["V2"].severity == "critical"


def test_one_finding_per_affected_component_and_unknown_refs_kept():
    components = [
        {"bom-ref": "a", "name": "alpha", "version": "1"},
        {"bom-ref": "p", "name": "parent", "components": [{"bom-ref": "b", "name": "beta", "version": "2"}]},
    ]
    vuln = {
        "id": "V",
        "affects": [{"ref": "a"}, {"ref": "b"}, {"ref": "urn:cdx:other/1#x"}],
        "analysis": {"state": "in_triage"},
    }
    found = read_data(_bom(vuln, components=components), "cyclonedx", "b.json").findings
    assert [(f.package, f.location, f.scanner_suppressed) for f in found] == [
        ("alpha", None, None),
        ("beta", None, None),
        (None, "urn:cdx:other/1#x", None),
    ]


def test_a_vulnerability_without_an_id_says_where():
    with pytest.raises(InputError, match=r"b.json: vulnerabilities\[0\] has no id"):
        read_data(_bom({"ratings": []}), "cyclonedx", "b.json")
