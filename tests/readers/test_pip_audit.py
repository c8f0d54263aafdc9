"""pip-audit JSON as pip-audit 2.10 writes it (online through a stub service, and offline), and the 1.x list."""

from __future__ import annotations

from tests.readers.vuln_fixtures import by_id, report


def test_pip_audit_report_is_normalised():
    read = report("reports/pip-audit-2.10.json")
    found = by_id(read.findings)
    jinja = found["GHSA-h75v-3vvj-5mfj"]
    assert (jinja.package, jinja.version, jinja.fixed_versions, jinja.fix_state) == (
        "jinja2",
        "3.1.3",
        ("3.1.4",),
        "fixed",
    )
    assert jinja.severity == "unknown" and jinja.aliases == ("CVE-2024-34064",)
    assert [d["name"] for d in read.skipped] == ["credit-model"] and read.audited == 2


def test_pip_audit_offline_skips_everything():
    """pip-audit 2.10 without network: every dependency 'not found on PyPI', exit 0, no finding."""
    read = report("reports/pip-audit-2.10-offline.json")
    assert (read.findings, read.audited, len(read.skipped)) == ([], 0, 2)


def test_pip_audit_before_2_0_wrote_a_list():
    read = report("reports/pip-audit-1.x-list.json")
    assert {f.id for f in read.findings} == {"PYSEC-2019-179", "PYSEC-2018-66"}
    assert read.audited == 2 and read.skipped[0]["name"] == "credit-model"
