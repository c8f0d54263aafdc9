"""Format detection and dispatch: every fixture is read as the format that wrote it, from positive evidence only;
anything else is a one-line InputError (exit 2) listing the formats tried, never a traceback or an empty pass."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.readers.vulnerabilities import FORMATS, detect, load_json, read_data, read_report
from tests.readers.vuln_fixtures import REPORTS, SECURITY, report

# fixture -> (format, number of findings): what the tool that wrote it reports
EXPECTED = {
    "grype.json": ("grype", 4),
    "trivy.json": ("trivy", 5),
    "pip-audit.json": ("pip-audit", 2),
    "trivy-config.sarif": ("sarif", 2),
    "reports/cyclonedx-1.5-scan.json": ("cyclonedx", 3),
    "reports/cyclonedx-1.6-scan.json": ("cyclonedx", 3),
    "reports/pip-audit-2.10.cdx.json": ("cyclonedx", 2),
    "reports/pip-audit-2.10.json": ("pip-audit", 2),
    "reports/pip-audit-2.10-offline.json": ("pip-audit", 0),
    "reports/pip-audit-1.x-list.json": ("pip-audit", 2),
    "reports/trivy-no-schema.json": ("trivy", 2),
    "reports/trivy-0.19-list.json": ("trivy", 1),
    "reports/trivy-k8s-resources.json": ("trivy", 3),
    "reports/trivy-k8s-findings.json": ("trivy", 3),
    "reports/ruff-0.17.sarif": ("sarif", 4),
    "reports/bandit-1.9.sarif": ("sarif", 5),
    "reports/gitleaks-8.sarif": ("sarif", 3),
    "reports/semgrep-1.187.sarif": ("sarif", 3),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_is_read_as_the_format_that_wrote_it(name):
    read = report(name)
    assert (read.format, len(read.findings)) == EXPECTED[name]
    assert detect(json.loads((SECURITY / name).read_text())) == EXPECTED[name][0]


def test_every_report_file_in_the_fixture_folder_is_covered():
    on_disk = {f"reports/{p.name}" for p in REPORTS.iterdir() if p.suffix in (".json", ".sarif")}
    assert on_disk - set(EXPECTED) == {"reports/cyclonedx-py-7.5-sbom.json"}  # refused: see below


def test_a_cyclonedx_bom_with_a_dependencies_list_is_not_taken_for_pip_audit():
    """Issue 13: every BOM has a top-level dependencies list; a scan BOM was read as an empty pip-audit report."""
    data = json.loads((REPORTS / "cyclonedx-1.5-scan.json").read_text())
    assert isinstance(data["dependencies"], list)
    read = report("reports/cyclonedx-1.5-scan.json")
    assert read.format == "cyclonedx"
    assert {f.severity for f in read.findings if not f.scanner_suppressed} == {"critical", "high"}


def test_an_sbom_without_vulnerabilities_is_refused_with_a_hint():
    with pytest.raises(InputError, match="an SBOM, not a vulnerability report; scan it with `trivy sbom"):
        report("reports/cyclonedx-py-7.5-sbom.json")
    # named in the policy, the BOM is taken as a scan that found nothing (pip-audit's clean CycloneDX run)
    assert report("reports/cyclonedx-py-7.5-sbom.json", "cyclonedx").findings == []


@pytest.mark.parametrize(
    "data, message",
    [
        ({"hello": "world"}, "not a vulnerability report mlgate reads. Formats tried: grype"),
        ([], "Formats tried"),  # an empty list: trivy before 0.20 or pip-audit before 2.0? Set the format.
        ({"matches": []}, "Formats tried"),  # one key other tools could have: no descriptor, no source
        ({"dependencies": [{"ref": "a", "dependsOn": []}]}, "Formats tried"),
        ({"version": "2.0.0", "runs": []}, "Formats tried"),  # SARIF before 2.1.0
        ({"bomFormat": "CycloneDX", "specVersion": "1.3", "vulnerabilities": []}, "Formats tried"),
    ],
)
def test_unknown_or_ambiguous_input_lists_the_formats_tried(data, message):
    with pytest.raises(InputError, match=message) as info:
        detect(data, "r.json")
    assert "\n" not in str(info.value) and all(f in str(info.value) for f in FORMATS)


def test_a_format_named_in_the_policy_is_still_checked():
    grype = json.loads((SECURITY / "grype.json").read_text())
    with pytest.raises(InputError, match="r.json: not a pip-audit report"):
        read_data(grype, "pip-audit", "r.json")
    with pytest.raises(InputError, match="unknown report format 'osv'"):
        read_data(grype, "osv", "r.json")
    assert read_data([], "trivy", "r.json").findings == []  # lenient when named: an empty trivy list


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "ruff.sarif"
    path.write_bytes(b"\xef\xbb\xbf" + (REPORTS / "ruff-0.17.sarif").read_bytes())
    assert len(read_report(path).findings) == 4


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "line 1 column 2: invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[" * 100_000, "nested too deeply|invalid JSON"),
    ],
)
def test_unparseable_bytes_are_one_line_errors(raw, message):
    with pytest.raises(InputError, match=message):
        load_json(raw, "r.json")


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the report"):
        read_report(tmp_path / "absent.json")


# --- property tests: any input gives a result or a one-line InputError, quickly ----------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
KEYS = st.sampled_from(
    [
        "matches",
        "vulnerability",
        "artifact",
        "Results",
        "Vulnerabilities",
        "runs",
        "results",
        "ruleIndex",
        "dependencies",
        "vulns",
        "vulnerabilities",
        "ratings",
        "affects",
        "analysis",
        "Resources",
        "CVSS",
        "id",
    ]
)
FIXTURES = [json.loads((SECURITY / n).read_text(encoding="utf-8-sig")) for n in sorted(EXPECTED)]


def _mutate(data, path: list[int], value):
    """Replace one node of a fixture (chosen by `path`, a walk of indices) with `value`."""
    if not path or not isinstance(data, (dict, list)) or not data:
        return value
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = keys[path[0] % len(keys)]
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[key] = _mutate(data[key], path[1:], value)
    return copy


def _read_any(data) -> None:
    started = time.monotonic()
    for fmt in (None, *FORMATS):
        try:
            read_data(data, fmt, "r.json") if fmt else read_data(data, detect(data, "r.json"), "r.json")
        except InputError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("r.json")
    assert time.monotonic() - started < 5  # generous: the CI machine is shared


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_give_a_report_or_a_one_line_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("b") / "r.json"
    path.write_bytes(raw)
    try:
        read_report(path, label="r.json")
    except InputError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_document_gives_a_report_or_a_one_line_error(data):
    _read_any(data)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(range(len(FIXTURES))),
    st.lists(st.integers(0, 50), max_size=8),
    JSON | st.dictionaries(KEYS, JSON, max_size=3),
)
def test_fixtures_with_one_node_replaced_give_a_report_or_a_one_line_error(which, path, value):
    _read_any(_mutate(FIXTURES[which], path, value))
