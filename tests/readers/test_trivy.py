"""trivy JSON in each layout trivy has written: SchemaVersion 2, no SchemaVersion, the bare list before 0.20, and
the Kubernetes report (Resources or consolidated Findings)."""

from __future__ import annotations

import pytest

from gates.core.errors import InputError
from gates.readers.vulnerabilities import read_data
from tests.readers.vuln_fixtures import by_id, report


def test_trivy_report_is_normalised():
    found = by_id(report("trivy.json").findings)
    assert found["CVE-2024-5535"].fix_state == "fixed"
    assert found["CVE-2024-2511"].fix_state == "not-fixed" and found["CVE-2024-2511"].fixed_versions == ()
    assert found["CVE-2022-0563"].fix_state == "wont-fix" and found["CVE-2022-0563"].severity == "low"
    assert found["CVE-2023-31484"].scanner_suppressed == "trivy: not affected"
    requests = found["CVE-2024-35195"]
    assert requests.aliases == ("GHSA-9wx4-h78v-vm56",)
    assert (requests.location or "").startswith("usr/local/lib/python3.11/site-packages/requests")


def test_trivy_without_schema_version_and_before_0_20():
    old = by_id(report("reports/trivy-no-schema.json").findings)
    assert (
        old["CVE-2023-45853"].fix_state == "wont-fix" and old["CVE-2023-45853"].target == "python:3.11-slim"
    )
    assert old["CVE-2024-35195"].cvss == 5.6
    [listed] = report("reports/trivy-0.19-list.json").findings
    assert (listed.id, listed.severity, listed.cvss, listed.fix_state) == (
        "CVE-2021-3711",
        "critical",
        9.8,
        "fixed",
    )


@pytest.mark.parametrize("name", ["reports/trivy-k8s-resources.json", "reports/trivy-k8s-findings.json"])
def test_trivy_kubernetes_report(name):
    found = by_id(report(name).findings)
    assert set(found) == {"CVE-2024-5535", "CVE-2024-2511", "AVD-KSV-0001"}
    assert found["CVE-2024-5535"].target == "kind-mlgate:models/Deployment/credit-model"
    assert found["AVD-KSV-0001"].line == 24 and found["AVD-KSV-0001"].aliases == ("KSV001",)


def test_a_kubernetes_resource_trivy_could_not_scan_is_an_error():
    data = {
        "ClusterName": "c",
        "Resources": [{"Namespace": "ns", "Kind": "Pod", "Name": "p", "Error": "image pull"}],
    }
    with pytest.raises(
        InputError, match=r"Resources\[0\]: trivy could not scan ns/Pod/p of cluster c \(image pull\)"
    ):
        read_data(data, "trivy", "k.json")


def test_trivy_misconfigurations_and_secrets_are_read():
    data = {
        "SchemaVersion": 2,
        "ArtifactName": "k8s",
        "Results": [
            {
                "Target": "deploy.yaml",
                "Class": "config",
                "Misconfigurations": [
                    {
                        "ID": "KSV001",
                        "AVDID": "AVD-KSV-0001",
                        "Severity": "MEDIUM",
                        "Status": "FAIL",
                        "CauseMetadata": {"StartLine": 12},
                    },
                    {"ID": "KSV002", "AVDID": "AVD-KSV-0002", "Severity": "HIGH", "Status": "PASS"},
                ],
                "Secrets": [
                    {"RuleID": "aws-access-key-id", "Severity": "CRITICAL", "Title": "AWS", "StartLine": 3}
                ],
            }
        ],
    }
    found = by_id(read_data(data, "trivy", "t.json").findings)
    assert set(found) == {"AVD-KSV-0001", "aws-access-key-id"}
    assert found["AVD-KSV-0001"].line == 12 and found["aws-access-key-id"].severity == "critical"


def test_a_vulnerability_without_an_id_says_where():
    data = {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "x"}]}]}
    with pytest.raises(InputError, match=r"t.json: Results\[0\].Vulnerabilities\[0\] has no VulnerabilityID"):
        read_data(data, "trivy", "t.json")
