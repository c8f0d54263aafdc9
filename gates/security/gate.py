"""The security gate: runs the configured sub-checks (vulns, artifacts, manifests, dockerfile, image).

`security.run` picks sub-checks by name (the command line sets it when flags name inputs); without it every
sub-check that has a section runs. Each sub-check's findings go to SARIF under their own category, and a
sub-check that ran with no findings still writes its (empty) SARIF file, so code scanning closes fixed alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import GateResult, Status
from gates.core.settings.security import SecuritySettings
from gates.security.rules import validate_overrides

GATE = "security"


def _module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"gates.security.{name}")


def run(section: SecuritySettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = SecuritySettings.of(section)
    selected = settings.selected()
    if not selected:
        raise InputError(
            "security: nothing to check: configure vulns, artifacts, manifests, dockerfile or image"
        )
    for name in selected:
        if getattr(settings, name) is None:
            raise InputError(f"security.run names '{name}', but there is no security.{name} section or flag")
    levels = validate_overrides(dict(settings.rules))
    result = GateResult(gate=GATE)
    result.evidence["sarif_categories"] = selected
    infra = False
    for name in selected:
        part = _module(name).check(getattr(settings, name), ctx, levels)
        result.checks += part.checks
        result.findings += part.findings
        infra = infra or bool(part.evidence.pop("infra_error", False))
        result.evidence[name] = part.evidence
        for key, value in part.summary.items():
            result.summary[f"{name}-{key}"] = value
        for title, table in part.tables.items():
            result.evidence.setdefault("tables", {})[title] = table
    if infra:
        # The vulnerability service could not be reached: exit 3, and the reason leads the report.
        result.checks.sort(key=lambda c: c.status is not Status.ERROR)
        result.exit_code_hint = 3
    return result
