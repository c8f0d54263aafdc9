"""SARIF 2.1.0 from any scanner: runs[].results[], with severity from `security-severity`, else the level."""

from __future__ import annotations

from typing import Any

from gates.readers.findings import VulnFinding, normalise_severity, severity_from_score
from gates.readers.vulnerabilities import expect

_LEVEL_SEVERITY = {"error": "high", "warning": "medium", "note": "low", "none": "negligible"}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rules(run: dict[str, Any]) -> tuple[list[dict], dict[str, dict]]:
    """The driver's rules in order (for ruleIndex), and every rule with an id by its id (for ruleId)."""
    tool = run.get("tool") or {}
    ordered = list((tool.get("driver") or {}).get("rules") or [])
    by_id = {r["id"]: r for r in ordered if isinstance(r, dict) and r.get("id") is not None}
    for extension in tool.get("extensions") or []:
        for rule in extension.get("rules") or []:
            if rule.get("id") is not None:
                by_id.setdefault(rule["id"], rule)
    return ordered, by_id


def read(data: dict[str, Any], label: str) -> list[VulnFinding]:
    if data.get("version") not in (None, "2.1.0"):
        raise ValueError(f"SARIF version {data.get('version')!r}; only 2.1.0 is read")
    out = []
    for r, run in enumerate(expect(data.get("runs"), list, f"{label}: runs")):
        tool = ((run.get("tool") or {}).get("driver") or {}).get("name") or "sarif"
        ordered, by_id = _rules(run)
        for n, result in enumerate(expect(run.get("results"), list, f"{label}: runs[{r}].results")):
            if result.get("baselineState") == "absent":
                continue
            rule_id = result.get("ruleId") or (result.get("rule") or {}).get("id")
            index = result.get("ruleIndex", (result.get("rule") or {}).get("index"))
            rule = (by_id.get(rule_id) if rule_id is not None else None) or (
                ordered[index] if isinstance(index, int) and 0 <= index < len(ordered) else {}
            )
            rule_id = rule_id or rule.get("id")
            if not rule_id:
                raise ValueError(f"runs[{r}].results[{n}] has no ruleId")
            props = {**(rule.get("properties") or {}), **(result.get("properties") or {})}
            score = _number(props.get("security-severity"))
            level = result.get("level") or (rule.get("defaultConfiguration") or {}).get("level") or "warning"
            severity = (
                severity_from_score(score)
                if score is not None
                else normalise_severity(props.get("severity") or props.get("problem.severity") or "")
            )
            if severity == "unknown":
                severity = _LEVEL_SEVERITY.get(level, "medium")
            physical = ((result.get("locations") or [{}])[0] or {}).get("physicalLocation") or {}
            uri = (physical.get("artifactLocation") or {}).get("uri")
            line = (physical.get("region") or {}).get("startLine")
            suppressions = [
                s for s in result.get("suppressions") or [] if s.get("status", "accepted") == "accepted"
            ]
            message = (result.get("message") or {}).get("text") or (
                (rule.get("shortDescription") or {}).get("text")
            )
            out.append(
                VulnFinding(
                    id=str(rule_id),
                    severity=severity,
                    location=uri,
                    line=line if isinstance(line, int) else None,
                    target=tool,
                    title=(message or "").split("\n")[0][:200] or None,
                    url=rule.get("helpUri"),
                    cvss=score,
                    sources=(f"sarif({tool}):{label}",),
                    scanner_suppressed=(f"{tool}: " + (suppressions[0].get("justification") or "suppressed"))
                    if suppressions
                    else None,
                )
            )
    return out
