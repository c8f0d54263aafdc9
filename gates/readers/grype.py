"""grype JSON (`grype -o json`, what anchore/scan-action writes): matches[] of vulnerability + artifact.

Recognised by `matches` (a list) together with grype's `descriptor` (name grype) or its `source` object.
"""

from __future__ import annotations

from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import VulnFinding, normalise_severity, severity_from_score
from gates.readers.report_fields import expect, first_line, number, objects, text

EVIDENCE = "matches[] with a grype descriptor or a source object"
_FIX_STATES = {"fixed": "fixed", "not-fixed": "not-fixed", "wont-fix": "wont-fix", "unknown": "unknown"}


def recognise(data: Any, strict: bool = True) -> bool:
    """grype's top level: `matches` a list, and a descriptor naming grype or a source object."""
    if not isinstance(data, dict) or not isinstance(data.get("matches"), list):
        return False
    descriptor = data.get("descriptor")
    return (isinstance(descriptor, dict) and descriptor.get("name") == "grype") or isinstance(
        data.get("source"), dict
    )


def _score(vuln: dict[str, Any], where: str) -> float | None:
    """The highest CVSS base score a record carries (grype lists one per source and CVSS version)."""
    scores = [
        number(expect(c.get("metrics"), dict, f"{w}.metrics").get("baseScore"))
        for w, c in objects(vuln.get("cvss"), f"{where}.cvss")
    ]
    return max((s for s in scores if s is not None), default=None)


def _target(source: dict[str, Any]) -> str | None:
    """What was scanned: the user's image reference, else the image id or the directory."""
    target = source.get("target")
    if isinstance(target, dict):
        return text(target.get("userInput")) or text(target.get("imageID")) or text(target.get("path"))
    return text(target)


def read(data: dict[str, Any], label: str) -> list[VulnFinding]:
    """One finding per match; severity from grype, else a related record's, else the CVSS score."""
    source = expect(data.get("source"), dict, f"{label}: source")
    target = _target(source)
    out = []
    for where, match in objects(data.get("matches"), f"{label}: matches"):
        vuln = expect(match.get("vulnerability"), dict, f"{where}.vulnerability")
        artifact = expect(match.get("artifact"), dict, f"{where}.artifact")
        vuln_id = text(vuln.get("id"))
        if not vuln_id:
            raise InputError(f"{where}.vulnerability has no id")
        related = objects(match.get("relatedVulnerabilities"), f"{where}.relatedVulnerabilities")
        fix = expect(vuln.get("fix"), dict, f"{where}.vulnerability.fix")
        score = _score(vuln, f"{where}.vulnerability")
        if score is None:
            score = max((s for s in (_score(r, w) for w, r in related) if s is not None), default=None)
        severity = normalise_severity(vuln.get("severity"))
        if severity == "unknown":
            rated = (normalise_severity(r.get("severity")) for _, r in related)
            severity = next((s for s in rated if s != "unknown"), severity_from_score(score))
        locations = [
            text(loc.get("path"))
            for _, loc in objects(artifact.get("locations"), f"{where}.artifact.locations")
        ]
        if source.get("type") == "image":  # paths inside the image, not on this machine
            locations = [p.lstrip("/") for p in locations if p]
        urls = [text(u) for u in expect(vuln.get("urls"), list, f"{where}.vulnerability.urls")]
        out.append(
            VulnFinding(
                id=vuln_id,
                severity=severity,
                package=text(artifact.get("name")),
                version=text(artifact.get("version")),
                fixed_versions=tuple(
                    v
                    for v in (
                        text(x)
                        for x in expect(fix.get("versions"), list, f"{where}.vulnerability.fix.versions")
                    )
                    if v
                ),
                fix_state=_FIX_STATES.get(str(fix.get("state", "unknown")).lower(), "unknown"),
                aliases=tuple(
                    dict.fromkeys(i for i in (text(r.get("id")) for _, r in related) if i and i != vuln_id)
                ),
                location=next((p for p in locations if p), None),
                target=target,
                title=first_line(vuln.get("description")),
                url=text(vuln.get("dataSource")) or next((u for u in urls if u), None),
                cvss=score,
                sources=(f"grype:{label}",),
                properties={
                    "type": text(artifact.get("type")),
                    "purl": text(artifact.get("purl")),
                    "namespace": text(vuln.get("namespace")),
                },
            )
        )
    return out
