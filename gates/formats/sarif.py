"""SARIF 2.1.0 for findings, one file per category so several uploads per commit coexist in code scanning."""

from __future__ import annotations

import json
from pathlib import Path

from gates import __version__
from gates.formats import Output
from gates.result import Finding, GateResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _result(finding: Finding, out: Output) -> dict:
    entry: dict = {"ruleId": finding.rule_id, "level": finding.level, "message": {"text": finding.message}}
    if finding.location:
        region = {"startLine": finding.location.line} if finding.location.line else None
        physical: dict = {"artifactLocation": {"uri": out.relative(finding.location.path)}}
        if region:
            physical["region"] = region
        entry["locations"] = [{"physicalLocation": physical}]
    if finding.suppressed:
        entry["suppressions"] = [{"kind": "external", "justification": finding.suppressed}]
    properties = {k: v for k, v in {"severity": finding.severity, **finding.properties}.items() if v is not None}
    if properties:
        entry["properties"] = properties
    return entry


def document(gate: str, category: str, findings: list[Finding], out: Output) -> dict:
    rules = {}
    for finding in findings:
        rules.setdefault(finding.rule_id, {"id": finding.rule_id,
                                           "shortDescription": {"text": finding.message.split(". ")[0][:200]}})
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mlgate", "version": __version__, "rules": list(rules.values())}},
            "automationDetails": {"id": f"mlgate/{gate}/{category}/"},
            "results": [_result(f, out) for f in findings],
        }],
    }


def write(results: list[GateResult], out: Output) -> list[Path]:
    written = []
    for result in results:
        categories: dict[str, list[Finding]] = {}
        for finding in result.findings:
            categories.setdefault(finding.category, []).append(finding)
        for category, findings in categories.items():
            path = out.report_dir / f"{result.gate}-{category}.sarif"
            path.write_text(json.dumps(document(result.gate, category, findings, out), indent=2) + "\n",
                            encoding="utf-8")
            written.append(path)
    return written
