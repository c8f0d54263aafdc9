"""SARIF 2.1.0 from any scanner (ruff, bandit, semgrep, gitleaks, trivy, CodeQL): runs[].results[].

Severity comes from the rule's or result's `security-severity` (a CVSS-like score), else a severity word the tool
puts in properties (bandit's issue_severity), else the level. A result names its rule by ruleId, else by ruleIndex
(or rule.id / rule.index); for results with neither, the message's first word when it is a rule's id (gitleaks
writes "<rule> has detected secret for file ..."), else the message's first line. Results
with an accepted suppression are kept and marked suppressed by the scanner; `kind` pass / notApplicable results
and baselineState absent ones are not findings.
"""

from __future__ import annotations

from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import VulnFinding, normalise_severity, severity_from_score
from gates.readers.report_fields import expect, first_line, number, objects, text

EVIDENCE = 'version "2.1.0" and runs[] (a $schema, when present, naming SARIF)'
_LEVEL_SEVERITY = {"error": "high", "warning": "medium", "note": "low", "none": "negligible"}
_SEVERITY_PROPERTIES = ("severity", "problem.severity", "issue_severity")
_NOT_FINDINGS = {"pass", "notApplicable"}


def recognise(data: Any, strict: bool = True) -> bool:
    """SARIF 2.1.0: the version, runs as a list, and a $schema naming SARIF when there is one."""
    if not isinstance(data, dict) or data.get("version") != "2.1.0" or not isinstance(data.get("runs"), list):
        return False
    schema = data.get("$schema")
    return schema is None or (isinstance(schema, str) and "sarif" in schema.lower())


def _rules(run: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The tool's name, the driver's rules in order (for ruleIndex), and every rule with an id by its id."""
    tool = expect(run.get("tool"), dict, f"{where}.tool")
    driver = expect(tool.get("driver"), dict, f"{where}.tool.driver")
    ordered = [rule for _, rule in objects(driver.get("rules"), f"{where}.tool.driver.rules")]
    by_id = {str(r["id"]): r for r in ordered if text(r.get("id"))}
    for w, extension in objects(tool.get("extensions"), f"{where}.tool.extensions"):
        for _, rule in objects(extension.get("rules"), f"{w}.rules"):
            if text(rule.get("id")):
                by_id.setdefault(str(rule["id"]), rule)
    return text(driver.get("name")) or "sarif", ordered, by_id


def _rule(
    result: dict[str, Any], ordered: list[dict[str, Any]], by_id: dict[str, dict[str, Any]], where: str
) -> tuple[str | None, dict[str, Any]]:
    """(rule id, rule object) for a result: by ruleId or rule.id, else by ruleIndex or rule.index."""
    reference = expect(result.get("rule"), dict, f"{where}.rule")
    rule_id = text(result.get("ruleId")) or text(reference.get("id"))
    index = result.get("ruleIndex", reference.get("index"))
    rule = by_id.get(rule_id) if rule_id else None
    if rule is None and isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(ordered):
        rule = ordered[index]
    rule = rule or {}
    return rule_id or text(rule.get("id")), rule


def _severity(props: dict[str, Any], level: str) -> tuple[str, float | None]:
    score = number(props.get("security-severity"))
    if score is not None:
        return severity_from_score(score), score
    words = (normalise_severity(props.get(k)) for k in _SEVERITY_PROPERTIES if props.get(k) is not None)
    return next((w for w in words if w != "unknown"), _LEVEL_SEVERITY.get(level, "medium")), None


def _suppression(result: dict[str, Any], where: str, tool: str) -> str | None:
    """The first accepted suppression (no status counts as accepted; underReview and rejected do not)."""
    for _, s in objects(result.get("suppressions"), f"{where}.suppressions"):
        if s.get("status", "accepted") == "accepted":
            return f"{tool}: " + (
                text(s.get("justification")) or f"suppressed ({text(s.get('kind')) or 'no kind'})"
            )
    return None


def _location(result: dict[str, Any], where: str) -> tuple[str | None, int | None]:
    locations = objects(result.get("locations"), f"{where}.locations")
    if not locations:
        return None, None
    physical = expect(locations[0][1].get("physicalLocation"), dict, f"{where}.locations[0].physicalLocation")
    uri = text(expect(physical.get("artifactLocation"), dict, f"{where}...artifactLocation").get("uri"))
    line = expect(physical.get("region"), dict, f"{where}...region").get("startLine")
    if uri and uri.startswith("file://"):
        uri = uri[len("file://") :]  # ruff writes absolute file URIs
    return uri, line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None


def read(data: dict[str, Any], label: str) -> list[VulnFinding]:
    out = []
    for where, run in objects(data.get("runs"), f"{label}: runs"):
        tool, ordered, by_id = _rules(run, where)
        for here, result in objects(run.get("results"), f"{where}.results"):
            if result.get("baselineState") == "absent" or result.get("kind") in _NOT_FINDINGS:
                continue
            message = text(expect(result.get("message"), dict, f"{here}.message").get("text"))
            rule_id, rule = _rule(result, ordered, by_id, here)
            if not rule_id and message:  # gitleaks: "<rule id> has detected secret for file ..."
                first = (message.split() or [""])[0]
                rule_id, rule = (first, by_id[first]) if first in by_id else (first_line(message, 80), rule)
            short = text(
                expect(rule.get("shortDescription"), dict, f"{here} rule.shortDescription").get("text")
            )
            if not rule_id:
                raise InputError(f"{here} has no ruleId, no ruleIndex and no message")
            props = {
                **expect(rule.get("properties"), dict, f"{here} rule.properties"),
                **expect(result.get("properties"), dict, f"{here}.properties"),
            }
            default = expect(rule.get("defaultConfiguration"), dict, f"{here} rule.defaultConfiguration")
            level = text(result.get("level")) or text(default.get("level")) or "warning"
            severity, score = _severity(props, level)
            uri, line = _location(result, here)
            out.append(
                VulnFinding(
                    id=rule_id,
                    severity=severity,
                    location=uri,
                    line=line,
                    target=tool,
                    title=first_line(message or short),
                    url=text(rule.get("helpUri")),
                    cvss=score,
                    sources=(f"sarif({tool}):{label}",),
                    scanner_suppressed=_suppression(result, here, tool),
                )
            )
    return out
