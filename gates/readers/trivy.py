"""trivy JSON, in every layout trivy has written: the report of `trivy image|fs|repo --format json` (Results[] per
Target; SchemaVersion 2 since 0.20, absent before), the bare list of results of trivy before 0.20, and the
Kubernetes report of `trivy k8s --format json` (ClusterName with Resources[], or Findings[] when consolidated, or
the early Vulnerabilities[] / Misconfigurations[] split), each resource holding the same Results[].

Vulnerabilities, failed Misconfigurations and Secrets become findings. A Kubernetes resource trivy could not scan
(its `Error`) is an InputError: the report is incomplete, and an incomplete report must not pass.
"""

from __future__ import annotations

from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import VulnFinding, normalise_severity, severity_from_score
from gates.readers.report_fields import expect, number, objects, text

EVIDENCE = (
    "SchemaVersion with ArtifactName or Results[], or ArtifactName with Results[], or a list of results with "
    "Target, or a Kubernetes report: ClusterName with Resources[] or Findings[]"
)
_STATUS = {
    "fixed": "fixed",
    "affected": "not-fixed",
    "fix_deferred": "not-fixed",
    "under_investigation": "unknown",
    "will_not_fix": "wont-fix",
    "end_of_life": "wont-fix",
    "unknown": "unknown",
}
_RESULT_KEYS = ("Vulnerabilities", "Misconfigurations", "Secrets", "Class", "Type")
_K8S_LISTS = ("Resources", "Findings", "Vulnerabilities", "Misconfigurations")


def _is_result_list(data: Any) -> bool:
    """trivy before 0.20: a list of results, each with a Target string and trivy's result keys."""
    return isinstance(data, list) and all(
        isinstance(r, dict) and isinstance(r.get("Target"), str) and any(k in r for k in _RESULT_KEYS)
        for r in data
    )


def _is_k8s(data: dict[str, Any]) -> bool:
    return isinstance(data.get("ClusterName"), str) and any(isinstance(data.get(k), list) for k in _K8S_LISTS)


def recognise(data: Any, strict: bool = True) -> bool:
    """One of trivy's layouts; an empty list is only taken when the policy names the format."""
    if isinstance(data, list):
        return _is_result_list(data) and (bool(data) or not strict)
    if not isinstance(data, dict):
        return False
    if _is_k8s(data):
        return True
    results = data.get("Results")
    if not isinstance(results, (list, type(None))):
        return False
    if isinstance(data.get("SchemaVersion"), int) and not isinstance(data.get("SchemaVersion"), bool):
        return isinstance(data.get("ArtifactName"), str) or isinstance(results, list)
    return isinstance(data.get("ArtifactName"), str) and isinstance(results, list)


def _score(vuln: dict[str, Any], where: str) -> float | None:
    """The highest score over trivy's CVSS sources, each read as V3, else V4.0, else V2."""
    scores = []
    for name, entry in expect(vuln.get("CVSS"), dict, f"{where}.CVSS").items():
        entry = expect(entry, dict, f"{where}.CVSS.{name}")
        scores.append(
            next(
                (
                    s
                    for s in map(number, (entry.get(k) for k in ("V3Score", "V40Score", "V2Score")))
                    if s is not None
                ),
                None,
            )
        )
    return max((s for s in scores if s is not None), default=None)


def _vulnerability(
    vuln: dict[str, Any],
    where: str,
    target: str | None,
    scanned: str | None,
    label: str,
    result: dict[str, Any],
) -> VulnFinding:
    vuln_id = text(vuln.get("VulnerabilityID"))
    if not vuln_id:
        raise InputError(f"{where} has no VulnerabilityID")
    fixed = [v.strip() for v in (text(vuln.get("FixedVersion")) or "").split(",") if v.strip()]
    status = (text(vuln.get("Status")) or "").lower()
    score = _score(vuln, where)
    severity = normalise_severity(vuln.get("Severity"))
    return VulnFinding(
        id=vuln_id,
        severity=severity if severity != "unknown" else severity_from_score(score),
        package=text(vuln.get("PkgName")),
        version=text(vuln.get("InstalledVersion")),
        fixed_versions=tuple(fixed),
        fix_state=_STATUS.get(status, "fixed" if fixed else "unknown"),
        aliases=tuple(
            a for a in (text(v) for v in expect(vuln.get("VendorIDs"), list, f"{where}.VendorIDs")) if a
        ),
        location=text(vuln.get("PkgPath")) or target,
        target=scanned or target,
        title=text(vuln.get("Title")),
        url=text(vuln.get("PrimaryURL")),
        cvss=score,
        sources=(f"trivy:{label}",),
        scanner_suppressed="trivy: not affected" if status == "not_affected" else None,
        properties={"class": text(result.get("Class")), "type": text(result.get("Type"))},
    )


def _results(results: Any, where: str, scanned: str | None, label: str) -> list[VulnFinding]:
    """Findings of one Results[] list; `scanned` is what trivy scanned (an image, a cluster resource)."""
    out: list[VulnFinding] = []
    for here, result in objects(results, where):
        target = text(result.get("Target"))
        for w, vuln in objects(result.get("Vulnerabilities"), f"{here}.Vulnerabilities"):
            out.append(_vulnerability(vuln, w, target, scanned, label, result))
        for w, mis in objects(result.get("Misconfigurations"), f"{here}.Misconfigurations"):
            if str(mis.get("Status", "FAIL")).upper() != "FAIL":
                continue
            cause = expect(mis.get("CauseMetadata"), dict, f"{w}.CauseMetadata")
            check_id, avd_id = text(mis.get("ID")), text(mis.get("AVDID"))
            if not (avd_id or check_id):
                raise InputError(f"{w} has no ID")
            out.append(
                VulnFinding(
                    id=str(avd_id or check_id),
                    severity=normalise_severity(mis.get("Severity")),
                    aliases=tuple(a for a in (check_id,) if a and a != avd_id),
                    location=target,
                    line=cause.get("StartLine")
                    if isinstance(cause.get("StartLine"), int) and cause["StartLine"] > 0
                    else None,
                    target=scanned or target,
                    title=text(mis.get("Title")) or text(mis.get("Message")),
                    url=text(mis.get("PrimaryURL")),
                    sources=(f"trivy:{label}",),
                    properties={"class": "config", "message": text(mis.get("Message"))},
                )
            )
        for w, secret in objects(result.get("Secrets"), f"{here}.Secrets"):
            out.append(
                VulnFinding(
                    id=text(secret.get("RuleID")) or "secret",
                    severity=normalise_severity(secret.get("Severity")),
                    location=target,
                    line=secret.get("StartLine")
                    if isinstance(secret.get("StartLine"), int) and secret["StartLine"] > 0
                    else None,
                    target=scanned or target,
                    title=text(secret.get("Title")) or text(secret.get("Category")),
                    sources=(f"trivy:{label}",),
                    properties={"class": "secret"},
                )
            )
    return out


def _k8s(data: dict[str, Any], label: str) -> list[VulnFinding]:
    """Each resource's Results, with the resource (namespace/Kind/name) as what was scanned."""
    out: list[VulnFinding] = []
    cluster = text(data.get("ClusterName"))
    for key in _K8S_LISTS:
        for where, resource in objects(data.get(key), f"{label}: {key}"):
            name = "/".join(p for p in (text(resource.get(k)) for k in ("Namespace", "Kind", "Name")) if p)
            if text(resource.get("Error")):
                raise InputError(
                    f"{where}: trivy could not scan {name or 'a resource'} of cluster {cluster} "
                    f"({text(resource.get('Error'))}); the report is incomplete"
                )
            out += _results(resource.get("Results"), f"{where}.Results", f"{cluster}:{name}", label)
    return out


def read(data: dict[str, Any] | list[Any], label: str) -> list[VulnFinding]:
    if isinstance(data, list):
        return _results(data, label, None, label)
    if _is_k8s(data):
        return _k8s(data, label)
    return _results(data.get("Results"), f"{label}: Results", text(data.get("ArtifactName")), label)
