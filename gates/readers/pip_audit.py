"""pip-audit JSON (`pip-audit --format json`): dependencies[] of {name, version, vulns[{id, fix_versions, aliases}]}.

pip-audit reports no severity: findings carry 'unknown', which the gate ranks as `unknown_severity` says.
"""

from __future__ import annotations

from typing import Any

from gates.readers.findings import VulnFinding
from gates.readers.vulnerabilities import expect


def read(data: dict[str, Any] | list[Any], label: str, target: str | None = None) -> list[VulnFinding]:
    deps = (
        data if isinstance(data, list) else expect(data.get("dependencies"), list, f"{label}: dependencies")
    )
    out = []
    for n, dep in enumerate(deps):
        if "skip_reason" in dep and "vulns" not in dep:
            continue
        for m, vuln in enumerate(expect(dep.get("vulns"), list, f"{label}: dependencies[{n}].vulns")):
            if not vuln.get("id"):
                raise ValueError(f"dependencies[{n}].vulns[{m}] has no id")
            fixes = tuple(str(v) for v in vuln.get("fix_versions") or [])
            aliases = tuple(str(a) for a in vuln.get("aliases") or [])
            out.append(
                VulnFinding(
                    id=str(vuln["id"]),
                    package=dep.get("name"),
                    version=dep.get("version"),
                    fixed_versions=fixes,
                    fix_state="fixed" if fixes else "not-fixed",
                    aliases=aliases,
                    target=target or label,
                    location=target,
                    title=(vuln.get("description") or "").split("\n")[0][:200] or None,
                    url=f"https://osv.dev/vulnerability/{vuln['id']}",
                    sources=(f"pip-audit:{label}",),
                )
            )
    return out


def skipped(data: dict[str, Any] | list[Any]) -> list[dict[str, str]]:
    deps = data if isinstance(data, list) else data.get("dependencies") or []
    return [{"name": d.get("name"), "reason": d["skip_reason"]} for d in deps if d.get("skip_reason")]
