"""What every security sub-check hands back to the gate, and how findings turn into checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gates.core.result import Check, Finding, Location, Status
from gates.security.rules import RULES, level_of

_STATUS_OF_LEVEL = {"error": Status.FAIL, "warning": Status.WARN, "note": Status.PASS}


@dataclass
class Part:
    """The output of one sub-check (vulns, artifacts, manifests, dockerfile, image)."""

    name: str
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)


@dataclass
class RuleHit:
    """One violated policy rule at one place, before levels and exemptions are applied."""

    rule: str
    message: str
    path: str
    line: int | None = None
    subject: str = ""  # what it is about: "Deployment/api container app", "stage 2 (runtime)"
    exempt_reason: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def rule_finding(hit: RuleHit, category: str, levels: dict[str, str]) -> Finding | None:
    """A Finding for SARIF, or None when the policy turned the rule off."""
    level = level_of(hit.rule, levels)
    if level == "off":
        return None
    rule = RULES[hit.rule]
    props = {
        "rule_name": rule.title,
        "rule_help": rule.help,
        "tags": ["security", category],
        **hit.properties,
    }
    if hit.subject:
        props["subject"] = hit.subject
    return Finding(
        rule_id=hit.rule,
        level=level,
        message=f"{hit.subject}: {hit.message}" if hit.subject else hit.message,
        category=category,
        location=Location(hit.path, hit.line),
        severity={"error": "high", "warning": "medium"}.get(level, "low"),
        suppressed=hit.exempt_reason,
        properties=props,
    )


def rule_checks(part: Part, hits: list[RuleHit], category: str, levels: dict[str, str], scope: str) -> None:
    """One check per violated rule (so annotations point at the first place), or one passing check.

    `scope` says what was examined, for the passing check's reason ("3 files, 7 objects").
    """
    by_rule: dict[str, list[RuleHit]] = {}
    exempted: list[RuleHit] = []
    for hit in hits:
        finding = rule_finding(hit, category, levels)
        if finding is None:
            continue
        part.findings.append(finding)
        if hit.exempt_reason:
            exempted.append(hit)
        else:
            by_rule.setdefault(hit.rule, []).append(hit)
    for rule_id, rule_hits in sorted(by_rule.items()):
        level = level_of(rule_id, levels)
        first = rule_hits[0]
        places = "; ".join(f"{_short(h)}" for h in rule_hits[:3])
        more = f" (and {len(rule_hits) - 3} more)" if len(rule_hits) > 3 else ""
        part.checks.append(
            Check(
                name=f"{category}:{rule_id}",
                status=_STATUS_OF_LEVEL[level],
                value=len(rule_hits),
                threshold=f"rule {rule_id} ({level})",
                why=f"{RULES[rule_id].title}: {places}{more}",
                location=Location(first.path, first.line),
                details={"hits": [_hit_dict(h) for h in rule_hits]},
            )
        )
    if not by_rule:
        part.checks.append(
            Check(
                name=category,
                status=Status.PASS,
                value=0,
                why=f"{scope}: no policy violations" + (f" ({len(exempted)} exempted)" if exempted else ""),
            )
        )
    rows = [h for h in hits if level_of(h.rule, levels) != "off"]
    if rows:
        part.tables[f"{category} findings"] = markdown_table(
            ["rule", "level", "where", "what", "exempted"],
            [
                [
                    h.rule,
                    level_of(h.rule, levels),
                    f"{h.path}:{h.line or ''}",
                    f"{h.subject}: {h.message}" if h.subject else h.message,
                    h.exempt_reason or "",
                ]
                for h in rows
            ],
        )
    part.summary["findings"] = sum(len(v) for v in by_rule.values())
    part.summary["exempted"] = len(exempted)


def _short(hit: RuleHit) -> str:
    where = f"{hit.path.rsplit('/', 1)[-1]}:{hit.line}" if hit.line else hit.path.rsplit("/", 1)[-1]
    subject = f" {hit.subject}" if hit.subject else ""
    return f"{where}{subject}: {hit.message}"


def _hit_dict(hit: RuleHit) -> dict[str, Any]:
    return {"path": hit.path, "line": hit.line, "subject": hit.subject, "message": hit.message}


def markdown_table(header: list[str], rows: list[list[Any]], limit: int = 100) -> str:
    def cell(value: Any) -> str:
        return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| ... {len(rows) - limit} more rows in the JSON report |" + " |" * (len(header) - 1))
    return "\n".join(lines)
