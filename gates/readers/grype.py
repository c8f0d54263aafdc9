"""grype JSON (`grype -o json`, what anchore/scan-action writes): matches[] of vulnerability + artifact."""

from __future__ import annotations

from typing import Any

from gates.readers.findings import VulnFinding, normalise_severity, severity_from_score
from gates.readers.vulnerabilities import expect

_FIX_STATES = {"fixed": "fixed", "not-fixed": "not-fixed", "wont-fix": "wont-fix", "unknown": "unknown"}


def _score(vuln: dict[str, Any]) -> float | None:
    scores = [c.get("metrics", {}).get("baseScore") for c in vuln.get("cvss") or [] if isinstance(c, dict)]
    scores = [s for s in scores if isinstance(s, (int, float))]
    return max(scores) if scores else None


def read(data: dict[str, Any], label: str) -> list[VulnFinding]:
    source = data.get("source") or {}
    target = source.get("target")
    if isinstance(target, dict):
        target = target.get("userInput") or target.get("imageID") or target.get("path")
    out = []
    for n, match in enumerate(expect(data.get("matches"), list, f"{label}: matches")):
        where = f"{label}: matches[{n}]"
        vuln = expect(match.get("vulnerability"), dict, f"{where}.vulnerability")
        artifact = expect(match.get("artifact"), dict, f"{where}.artifact")
        if not vuln.get("id"):
            raise ValueError(f"matches[{n}].vulnerability has no id")
        related = [
            r
            for r in expect(match.get("relatedVulnerabilities"), list, f"{where}.relatedVulnerabilities")
            if isinstance(r, dict)
        ]
        fix = vuln.get("fix") or {}
        severity = normalise_severity(vuln.get("severity"))
        score = _score(vuln) or max((s for s in (_score(r) for r in related) if s is not None), default=None)
        if severity == "unknown":
            severity = next(
                (
                    normalise_severity(r.get("severity"))
                    for r in related
                    if normalise_severity(r.get("severity")) != "unknown"
                ),
                severity_from_score(score),
            )
        locations = [loc.get("path") for loc in artifact.get("locations") or [] if isinstance(loc, dict)]
        if source.get("type") == "image":  # paths inside the image, not on this machine
            locations = [p.lstrip("/") for p in locations if isinstance(p, str)]
        urls = vuln.get("urls") or []
        out.append(
            VulnFinding(
                id=str(vuln["id"]),
                severity=severity,
                package=artifact.get("name"),
                version=artifact.get("version"),
                fixed_versions=tuple(str(v) for v in fix.get("versions") or []),
                fix_state=_FIX_STATES.get(str(fix.get("state", "unknown")).lower(), "unknown"),
                aliases=tuple(
                    dict.fromkeys(str(r["id"]) for r in related if r.get("id") and r["id"] != vuln["id"])
                ),
                location=next((p for p in locations if p), None),
                target=target,
                title=(vuln.get("description") or "").split("\n")[0][:200] or None,
                url=vuln.get("dataSource") or (urls[0] if urls else None),
                cvss=score,
                sources=(f"grype:{label}",),
                properties={
                    "type": artifact.get("type"),
                    "purl": artifact.get("purl"),
                    "namespace": vuln.get("namespace"),
                },
            )
        )
    return out
