"""CycloneDX 1.4-1.6 JSON with vulnerabilities (trivy, grype and pip-audit write it; so do VEX documents).

Each vulnerability becomes one finding per component it affects: severity is the gravest of its ratings (or the
CVSS band of the highest score), versions marked `unaffected` are the fixed versions, references are aliases, and
an analysis state of not_affected, false_positive, resolved or resolved_with_pedigree marks it suppressed by the
scanner (listed, not failing). A BOM without a `vulnerabilities` list is an SBOM, not a scan result: detection
refuses it with a hint; named explicitly as cyclonedx in the policy, it is read as a scan that found nothing
(pip-audit's CycloneDX output of a clean run has no `vulnerabilities` key).
"""

from __future__ import annotations

from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import SEVERITIES, VulnFinding, normalise_severity, severity_from_score
from gates.readers.report_fields import expect, first_line, number, objects, text

EVIDENCE = 'bomFormat "CycloneDX", specVersion 1.4 or later and vulnerabilities[]'
SBOM_MESSAGE = (
    "a CycloneDX SBOM without vulnerabilities: an SBOM, not a vulnerability report; scan it with "
    "`trivy sbom --format json FILE` or `grype sbom:FILE -o json` and give that report (or set format: cyclonedx "
    "if this BOM is the output of a scan that found nothing)"
)
_SUPPRESSING = {"not_affected", "false_positive", "resolved", "resolved_with_pedigree"}


def _version(data: dict[str, Any]) -> tuple[int, int] | None:
    parts = text(data.get("specVersion"))
    try:
        major, minor = (int(p) for p in (parts or "").split("."))
    except ValueError:
        return None
    return major, minor


def is_sbom(data: Any) -> bool:
    """A CycloneDX BOM (any version) that holds no vulnerability data."""
    return isinstance(data, dict) and data.get("bomFormat") == "CycloneDX" and "vulnerabilities" not in data


def recognise(data: Any, strict: bool = True) -> bool:
    """bomFormat CycloneDX with specVersion >= 1.4; a vulnerabilities list unless the policy names the format."""
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        return False
    version = _version(data)
    if version is None or version < (1, 4):
        return False
    vulns = data.get("vulnerabilities")
    return isinstance(vulns, list) or (not strict and vulns is None)


def _components(data: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    """Every component by its bom-ref, nested ones and the BOM's own subject (metadata.component) included."""
    found: dict[str, dict[str, Any]] = {}
    metadata = expect(data.get("metadata"), dict, f"{label}: metadata")
    stack = [
        (
            f"{label}: metadata.component",
            expect(metadata.get("component"), dict, f"{label}: metadata.component"),
        )
    ]
    stack += objects(data.get("components"), f"{label}: components")
    while stack:
        where, component = stack.pop()
        ref = text(component.get("bom-ref"))
        if ref:
            found.setdefault(ref, component)
        stack += objects(component.get("components"), f"{where}.components")
    return found


def _severity(vuln: dict[str, Any], where: str) -> tuple[str, float | None]:
    """The gravest rated severity and the highest score; a score alone gives its CVSS band."""
    severities, scores = [], []
    for _, rating in objects(vuln.get("ratings"), f"{where}.ratings"):
        severities.append(normalise_severity(rating.get("severity")))
        scores.append(number(rating.get("score")))
    score = max((s for s in scores if s is not None), default=None)
    known = [s for s in severities if s in SEVERITIES]
    return (max(known, key=SEVERITIES.index) if known else severity_from_score(score)), score


def _suppressed(vuln: dict[str, Any], where: str, tool: str) -> str | None:
    analysis = expect(vuln.get("analysis"), dict, f"{where}.analysis")
    state = text(analysis.get("state"))
    if state not in _SUPPRESSING:
        return None
    why = ", ".join(w for w in (text(analysis.get("justification")), text(analysis.get("detail"))) if w)
    return f"{tool}: {state.replace('_', ' ')}" + (f" ({why})" if why else "")


def _tool(data: dict[str, Any]) -> str:
    """The tool that wrote the BOM (metadata.tools is a list up to 1.4, an object of components since 1.5)."""
    tools = expect(data.get("metadata"), dict, "metadata").get("tools")
    listed = tools.get("components") if isinstance(tools, dict) else tools
    names = (
        [text(t.get("name")) for t in listed or [] if isinstance(t, dict)] if isinstance(listed, list) else []
    )
    return next((n for n in names if n), "cyclonedx")


def read(data: dict[str, Any], label: str) -> list[VulnFinding]:
    components = _components(data, label)
    tool = _tool(data)
    out = []
    for where, vuln in objects(data.get("vulnerabilities"), f"{label}: vulnerabilities"):
        vuln_id = text(vuln.get("id"))
        if not vuln_id:
            raise InputError(f"{where} has no id")
        severity, score = _severity(vuln, where)
        source = expect(vuln.get("source"), dict, f"{where}.source")
        advisories = [text(a.get("url")) for _, a in objects(vuln.get("advisories"), f"{where}.advisories")]
        aliases = [text(r.get("id")) for _, r in objects(vuln.get("references"), f"{where}.references")]
        suppressed = _suppressed(vuln, where, tool)
        affects = objects(vuln.get("affects"), f"{where}.affects") or [(where, {})]
        for here, affected in affects:
            ref = text(affected.get("ref"))
            component = components.get(ref or "", {})
            versions = objects(affected.get("versions"), f"{here}.versions")
            fixed = tuple(
                v
                for v in (
                    text(x.get("version")) or text(x.get("range"))
                    for _, x in versions
                    if x.get("status") == "unaffected"
                )
                if v
            )
            out.append(
                VulnFinding(
                    id=vuln_id,
                    severity=severity,
                    package=text(component.get("name")),
                    version=text(component.get("version")),
                    fixed_versions=fixed,
                    fix_state="fixed" if fixed else "unknown",
                    aliases=tuple(dict.fromkeys(a for a in aliases if a and a != vuln_id)),
                    location=None if component else ref,
                    target=label,
                    title=first_line(vuln.get("description")) or first_line(vuln.get("detail")),
                    url=text(source.get("url")) or next((u for u in advisories if u), None),
                    cvss=score,
                    sources=(f"cyclonedx({tool}):{label}",),
                    scanner_suppressed=suppressed,
                    properties={"purl": text(component.get("purl")), "bom-ref": ref},
                )
            )
    return out
