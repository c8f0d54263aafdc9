"""grype JSON: severity, fix state, aliases and image paths as grype reports them."""

from __future__ import annotations

import pytest

from gates.core.errors import InputError
from gates.readers.vulnerabilities import read_data
from tests.readers.vuln_fixtures import by_id, report


def test_grype_report_is_normalised():
    found = by_id(report("grype.json").findings)
    assert set(found) == {"CVE-2024-5535", "CVE-2023-45853", "GHSA-9wx4-h78v-vm56", "CVE-2011-3374"}
    ssl = found["CVE-2024-5535"]
    assert (ssl.severity, ssl.package, ssl.version, ssl.fix_state) == (
        "critical",
        "libssl3",
        "3.0.11-1~deb12u2",
        "fixed",
    )
    assert ssl.fixed_versions == ("3.0.14-1~deb12u2",)
    assert ssl.cvss == 9.1  # from relatedVulnerabilities when the distro record has no CVSS
    assert ssl.location == "usr/share/doc/libssl3/copyright"  # image path, made relative
    assert ssl.target == "ghcr.io/acme/credit-model:1.4.0"
    assert found["CVE-2023-45853"].fix_state == "wont-fix"
    requests = found["GHSA-9wx4-h78v-vm56"]
    assert requests.aliases == ("CVE-2024-35195",) and requests.severity == "medium"
    assert found["CVE-2011-3374"].severity == "negligible"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"source": {}, "matches": [{"vulnerability": {}, "artifact": {}}]},
            r"matches\[0\].vulnerability has no id",
        ),
        (
            {"source": {}, "matches": [{"vulnerability": "CVE-1"}]},
            r"matches\[0\].vulnerability: expected an object",
        ),
        ({"source": {}, "matches": [7]}, r"matches\[0\]: expected an object, got int"),
    ],
)
def test_malformed_grype_reports_say_where(data, message):
    with pytest.raises(InputError, match=message):
        read_data(data, "grype", "g.json")
