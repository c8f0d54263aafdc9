"""SARIF 2.1.0 for findings, one file per category so several uploads per commit coexist in code scanning.

Each file holds one run whose `automationDetails.id` is `mlgate/<gate>/<category>/`, which
github/codeql-action/upload-sarif takes as the category. A gate can name categories it checked in
`evidence["sarif_categories"]`: those get a file even with no findings, so code scanning closes alerts that were
fixed. Finding properties `rule_name`, `rule_help`, `help_uri`, `tags` and `security_severity` describe the rule
(they go to `tool.driver.rules`, not to the result).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from gates import __version__
from gates.core.result import Finding, GateResult
from gates.formats import Output

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = ("none", "note", "warning", "error")
_RULE_KEYS = ("rule_name", "rule_help", "help_uri", "tags", "security_severity")
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "negligible": "0.5"}


def uri(path: str, out: Output) -> str:
    """A URI reference: workspace-relative paths as percent-encoded relative references, others as file: URIs."""
    relative = out.relative(path)
    if Path(relative).is_absolute():
        return Path(relative).as_uri()
    return quote(str(PurePosixPath(*Path(relative).parts)) if relative not in ("", ".") else ".", safe="/")


def _level(finding: Finding) -> str:
    return finding.level if finding.level in _LEVELS else "warning"


def _fingerprint(finding: Finding, location_uri: str | None) -> str:
    key = "\0".join(
        str(v)
        for v in (
            finding.rule_id,
            location_uri,
            finding.properties.get("package"),
            finding.properties.get("installed_version"),
            finding.message if location_uri is None else finding.properties.get("subject", ""),
        )
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _result(finding: Finding, out: Output, rule_index: int) -> dict:
    entry: dict = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _level(finding),
        "message": {"text": finding.message or finding.rule_id},
    }
    location_uri = None
    if finding.location:
        location_uri = uri(finding.location.path, out)
        physical: dict = {"artifactLocation": {"uri": location_uri}}
        if finding.location.line and finding.location.line >= 1:
            region: dict = {"startLine": int(finding.location.line)}
            if finding.location.column and finding.location.column >= 1:
                region["startColumn"] = int(finding.location.column)
            physical["region"] = region
        entry["locations"] = [{"physicalLocation": physical}]
    entry["partialFingerprints"] = {"mlgateFinding/v1": _fingerprint(finding, location_uri)}
    if finding.suppressed:
        entry["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": finding.suppressed}
        ]
    properties = {
        k: v
        for k, v in {"severity": finding.severity, **finding.properties}.items()
        if v is not None and k not in _RULE_KEYS
    }
    if properties:
        entry["properties"] = properties
    return entry


def _rule(finding: Finding) -> dict:
    props = finding.properties
    name = props.get("rule_name") or finding.message.split(". ")[0]
    rule: dict = {"id": finding.rule_id, "shortDescription": {"text": str(name)[:1000] or finding.rule_id}}
    if props.get("rule_help"):
        rule["fullDescription"] = {"text": str(props["rule_help"])}
        rule["help"] = {"text": str(props["rule_help"])}
    if props.get("help_uri"):
        rule["helpUri"] = str(props["help_uri"])
    rule["defaultConfiguration"] = {"level": _level(finding)}
    rule_props: dict = {}
    if props.get("tags"):
        rule_props["tags"] = [str(t) for t in props["tags"]]
    severity = props.get("security_severity") or _SECURITY_SEVERITY.get(str(finding.severity or ""))
    if severity is not None:
        rule_props["security-severity"] = str(severity)
    if rule_props:
        rule["properties"] = rule_props
    return rule


def document(gate: str, category: str, findings: list[Finding], out: Output) -> dict:
    rules: dict[str, dict] = {}
    index: dict[str, int] = {}
    for finding in findings:
        if finding.rule_id not in rules:
            index[finding.rule_id] = len(rules)
            rules[finding.rule_id] = _rule(finding)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlgate",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "automationDetails": {"id": f"mlgate/{gate}/{category}/"},
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, out, index[f.rule_id]) for f in findings],
            }
        ],
    }


def write(results: list[GateResult], out: Output) -> list[Path]:
    written = []
    for result in results:
        categories: dict[str, list[Finding]] = {
            str(c): [] for c in result.evidence.get("sarif_categories") or [] if isinstance(c, str)
        }
        for finding in result.findings:
            categories.setdefault(finding.category, []).append(finding)
        for category, findings in categories.items():
            path = out.report_dir / f"{result.gate}-{category}.sarif"
            path.write_text(
                json.dumps(document(result.gate, category, findings, out), indent=2) + "\n", encoding="utf-8"
            )
            written.append(path)
    return written
