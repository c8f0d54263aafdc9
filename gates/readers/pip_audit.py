"""pip-audit JSON (`pip-audit --format json`): dependencies[] of {name, version, vulns[{id, fix_versions,
aliases}]} with fixes[] beside it since 2.0; before 2.0 a bare list of the same dependency objects.

pip-audit reports no severity: findings carry 'unknown', which the gate ranks as `unknown_severity` says.
Dependencies it could not audit carry a `skip_reason` instead of `vulns`; they are returned by `skipped`, so the
gate can say they were never checked (offline, pip-audit 2.10 skips every dependency and still exits 0).
"""

from __future__ import annotations

from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import VulnFinding
from gates.readers.report_fields import expect, first_line, objects, text

EVIDENCE = (
    "dependencies[] of {name, version, vulns[]} or {name, skip_reason} (with fixes[] since 2.0), or that list"
)


def _is_dependency(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return False
    return isinstance(item.get("vulns"), list) or isinstance(item.get("skip_reason"), str)


def recognise(data: Any, strict: bool = True) -> bool:
    """pip-audit's dependencies (in the 2.x object or the 1.x list); an empty list only when named in the policy."""
    if isinstance(data, list):
        return all(_is_dependency(d) for d in data) and (bool(data) or not strict)
    if not isinstance(data, dict) or "bomFormat" in data or not isinstance(data.get("dependencies"), list):
        return False
    deps = data["dependencies"]
    if not all(_is_dependency(d) for d in deps):
        return False
    return isinstance(data.get("fixes"), list) or bool(deps) or not strict


def _dependencies(data: dict[str, Any] | list[Any], label: str) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(data, list):
        return objects(data, f"{label}: [list]")
    return objects(data.get("dependencies"), f"{label}: dependencies")


def read(data: dict[str, Any] | list[Any], label: str) -> list[VulnFinding]:
    out = []
    for where, dep in _dependencies(data, label):
        for here, vuln in objects(dep.get("vulns"), f"{where}.vulns"):
            vuln_id = text(vuln.get("id"))
            if not vuln_id:
                raise InputError(f"{here} has no id")
            fixes = tuple(
                v
                for v in (text(x) for x in expect(vuln.get("fix_versions"), list, f"{here}.fix_versions"))
                if v
            )
            out.append(
                VulnFinding(
                    id=vuln_id,
                    package=text(dep.get("name")),
                    version=text(dep.get("version")),
                    fixed_versions=fixes,
                    fix_state="fixed" if fixes else "not-fixed",
                    aliases=tuple(
                        a
                        for a in (text(x) for x in expect(vuln.get("aliases"), list, f"{here}.aliases"))
                        if a
                    ),
                    target=label,
                    title=first_line(vuln.get("description")),
                    url=f"https://osv.dev/vulnerability/{vuln_id}",
                    sources=(f"pip-audit:{label}",),
                )
            )
    return out


def skipped(data: Any) -> list[dict[str, str]]:
    """Dependencies pip-audit lists with a skip_reason: never audited (private, local or offline)."""
    deps = data if isinstance(data, list) else data.get("dependencies") if isinstance(data, dict) else None
    return [
        {"name": text(d.get("name")) or "?", "reason": text(d.get("skip_reason")) or "no reason given"}
        for d in deps or []
        if isinstance(d, dict) and d.get("skip_reason")
    ]


def audited(data: Any) -> int:
    """How many dependencies pip-audit did audit (those without a skip_reason)."""
    deps = data if isinstance(data, list) else data.get("dependencies") if isinstance(data, dict) else None
    return sum(1 for d in deps or [] if isinstance(d, dict) and not d.get("skip_reason"))
