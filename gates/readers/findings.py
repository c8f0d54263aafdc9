"""One vulnerability finding model for every scanner's report (grype, trivy, pip-audit, SARIF, CycloneDX)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

SEVERITIES = ("negligible", "low", "medium", "high", "critical")
FIX_STATES = ("fixed", "not-fixed", "wont-fix", "unknown")

_SEVERITY_WORDS = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "medium": "medium",
    "moderate": "medium",
    "low": "low",
    "negligible": "negligible",
    "info": "negligible",
    "informational": "negligible",
    "none": "negligible",
    "unknown": "unknown",
    "": "unknown",
    "unspecified": "unknown",
}


def normalise_severity(text: Any) -> str:
    """Scanner words (Critical, HIGH, moderate, ...) to critical / high / medium / low / negligible / unknown."""
    return _SEVERITY_WORDS.get(str(text or "").strip().lower(), "unknown")


def severity_from_score(score: float | None) -> str:
    """CVSS v3 bands: 9.0+ critical, 7.0+ high, 4.0+ medium, 0.1+ low, 0 none."""
    if score is None:
        return "unknown"
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "negligible"


def severity_rank(severity: str, unknown_as: str = "high") -> int:
    """Position on the scale negligible..critical; a finding without severity ranks as the policy says."""
    if severity == "unknown":
        severity = unknown_as
    return SEVERITIES.index(severity)


@dataclass
class VulnFinding:
    """One vulnerability (or scanner result) in one package version, as reported by one or more scanners."""

    id: str
    severity: str = "unknown"
    package: str | None = None
    version: str | None = None
    fixed_versions: tuple[str, ...] = ()
    fix_state: str = "unknown"
    aliases: tuple[str, ...] = ()
    location: str | None = None  # a path: the package's files in the image, a lock file, a source file
    line: int | None = None
    target: str | None = None  # what was scanned: an image, a Target of trivy, a requirements file
    title: str | None = None
    url: str | None = None
    cvss: float | None = None
    sources: tuple[str, ...] = ()  # "grype:report.json"
    scanner_suppressed: str | None = None  # the scanner itself says not affected / suppressed
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        return {i.upper() for i in (self.id, *self.aliases) if i}

    @property
    def key(self) -> str:
        pkg = f"{self.package}@{self.version}" if self.package else (self.location or "")
        return f"{self.id} {pkg}".strip()

    def merge(self, other: VulnFinding) -> VulnFinding:
        """The same vulnerability seen by two scanners: keep the graver severity and everything either knew."""
        graver = (
            self
            if severity_rank(self.severity, "negligible") >= severity_rank(other.severity, "negligible")
            else other
        )
        fix_state = self.fix_state if self.fix_state != "unknown" else other.fix_state
        if "fixed" in (self.fix_state, other.fix_state):
            fix_state = "fixed"
        aliases = tuple(sorted((self.ids | other.ids) - {self.id.upper()}))
        return replace(
            self,
            severity=graver.severity,
            aliases=aliases,
            fix_state=fix_state,
            fixed_versions=tuple(dict.fromkeys((*self.fixed_versions, *other.fixed_versions))),
            location=self.location or other.location,
            title=self.title or other.title,
            url=self.url or other.url,
            cvss=max((c for c in (self.cvss, other.cvss) if c is not None), default=None),
            sources=tuple(dict.fromkeys((*self.sources, *other.sources))),
            scanner_suppressed=self.scanner_suppressed
            if self.scanner_suppressed and other.scanner_suppressed
            else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "severity": self.severity,
            "package": self.package,
            "version": self.version,
            "fixed_versions": list(self.fixed_versions),
            "fix_state": self.fix_state,
            "location": self.location,
            "line": self.line,
            "target": self.target,
            "title": self.title,
            "url": self.url,
            "cvss": self.cvss,
            "sources": list(self.sources),
            "scanner_suppressed": self.scanner_suppressed,
        }


def deduplicate(findings: list[VulnFinding]) -> list[VulnFinding]:
    """Merge findings for the same package version whose ids or aliases overlap (grype and trivy on one image)."""
    out: list[VulnFinding] = []
    index: dict[tuple[str, str, str, str], int] = {}  # (package, version, location, id) -> finding
    for finding in findings:
        where = (
            (finding.package or "").lower(),
            finding.version or "",
            "" if finding.package else (finding.location or "") + f":{finding.line or ''}",
        )
        hit = next((index[where + (i,)] for i in finding.ids if where + (i,) in index), None)
        if hit is None:
            out.append(finding)
            hit = len(out) - 1
        else:
            out[hit] = out[hit].merge(finding)
        for i in out[hit].ids:
            index[where + (i,)] = hit
    return out
