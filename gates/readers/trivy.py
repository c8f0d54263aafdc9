"""trivy JSON (`trivy image --format json`, what aquasecurity/trivy-action writes with format: json).

Results[] per Target, each with Vulnerabilities[]; Misconfigurations[] (status FAIL) and Secrets[] are read too.
"""

from __future__ import annotations

from typing import Any

from gates.readers.findings import VulnFinding, normalise_severity, severity_from_score
from gates.readers.vulnerabilities import expect

_STATUS = {
    "fixed": "fixed",
    "affected": "not-fixed",
    "fix_deferred": "not-fixed",
    "under_investigation": "unknown",
    "will_not_fix": "wont-fix",
    "end_of_life": "wont-fix",
    "unknown": "unknown",
}


def _score(vuln: dict[str, Any]) -> float | None:
    scores = [
        entry.get("V3Score") or entry.get("V40Score") or entry.get("V2Score")
        for entry in (vuln.get("CVSS") or {}).values()
        if isinstance(entry, dict)
    ]
    numbers = [s for s in scores if isinstance(s, (int, float))]
    return max(numbers) if numbers else None


def read(data: dict[str, Any], label: str) -> list[VulnFinding]:
    artifact = data.get("ArtifactName")
    out: list[VulnFinding] = []
    for r, result in enumerate(expect(data.get("Results"), list, f"{label}: Results")):
        where = f"{label}: Results[{r}]"
        target = result.get("Target")
        for n, vuln in enumerate(expect(result.get("Vulnerabilities"), list, f"{where}.Vulnerabilities")):
            if not vuln.get("VulnerabilityID"):
                raise ValueError(f"Results[{r}].Vulnerabilities[{n}] has no VulnerabilityID")
            fixed = [v.strip() for v in str(vuln.get("FixedVersion") or "").split(",") if v.strip()]
            status = str(vuln.get("Status") or "").lower()
            fix_state = _STATUS.get(status, "fixed" if fixed else "unknown")
            score = _score(vuln)
            severity = normalise_severity(vuln.get("Severity"))
            out.append(
                VulnFinding(
                    id=str(vuln["VulnerabilityID"]),
                    severity=severity if severity != "unknown" else severity_from_score(score),
                    package=vuln.get("PkgName"),
                    version=vuln.get("InstalledVersion"),
                    fixed_versions=tuple(fixed),
                    fix_state=fix_state,
                    aliases=tuple(str(a) for a in vuln.get("VendorIDs") or []),
                    location=vuln.get("PkgPath") or target,
                    target=artifact or target,
                    title=vuln.get("Title"),
                    url=vuln.get("PrimaryURL"),
                    cvss=score,
                    sources=(f"trivy:{label}",),
                    scanner_suppressed="trivy: not affected" if status == "not_affected" else None,
                    properties={"class": result.get("Class"), "type": result.get("Type")},
                )
            )
        for n, mis in enumerate(expect(result.get("Misconfigurations"), list, f"{where}.Misconfigurations")):
            if str(mis.get("Status", "FAIL")).upper() != "FAIL":
                continue
            cause = mis.get("CauseMetadata") or {}
            out.append(
                VulnFinding(
                    id=str(mis.get("AVDID") or mis.get("ID")),
                    severity=normalise_severity(mis.get("Severity")),
                    aliases=tuple(a for a in (mis.get("ID"),) if a and a != mis.get("AVDID")),
                    location=target,
                    line=cause.get("StartLine") or None,
                    target=artifact or target,
                    title=mis.get("Title") or mis.get("Message"),
                    url=mis.get("PrimaryURL"),
                    sources=(f"trivy:{label}",),
                    properties={"class": "config", "message": mis.get("Message")},
                )
            )
        for n, secret in enumerate(expect(result.get("Secrets"), list, f"{where}.Secrets")):
            out.append(
                VulnFinding(
                    id=str(secret.get("RuleID") or "secret"),
                    severity=normalise_severity(secret.get("Severity")),
                    location=target,
                    line=secret.get("StartLine") or None,
                    target=artifact or target,
                    title=secret.get("Title") or secret.get("Category"),
                    sources=(f"trivy:{label}",),
                    properties={"class": "secret"},
                )
            )
    return out
