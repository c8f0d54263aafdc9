"""Vulnerability findings: read reports, deduplicate, apply the ignore list, the severity cutoff and only-fixed.

Nothing is dropped silently: every finding lands in exactly one bucket (blocking, no fix, below the cutoff,
suppressed by the ignore list, suppressed by the scanner) and each bucket is listed in the report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, Finding, Location, Status
from gates.core.settings.base import as_list
from gates.core.settings.security import Report as ReportSpec
from gates.core.settings.security import Vulns
from gates.readers.findings import SEVERITIES, VulnFinding, deduplicate, severity_rank
from gates.readers.vulnerabilities import Report, read_data, read_report
from gates.security import ignore as ignore_list
from gates.security.common import Part, markdown_table

CATEGORY = "vulns"
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "negligible": "0.5"}


# What evaluate() reads: the severity cutoff, only_fixed, how to rank unknown severities, the expired-ignore
# status and the SARIF location; the policy's settings of this sub-check, as they are.
Options = Vulns


def bucket(finding: VulnFinding, suppressed_by: ignore_list.IgnoreEntry | None, options: Options) -> str:
    if finding.scanner_suppressed:
        return "scanner-suppressed"
    if suppressed_by is not None:
        return "suppressed"
    if severity_rank(finding.severity, options.unknown_severity) < SEVERITIES.index(options.severity):
        return "below-cutoff"
    if options.only_fixed and finding.fix_state != "fixed":
        return "no-fix"
    return "blocking"


_LEVEL = {
    "blocking": "error",
    "no-fix": "warning",
    "below-cutoff": "note",
    "suppressed": "note",
    "scanner-suppressed": "note",
}


def evaluate(
    findings: list[VulnFinding],
    entries: list[ignore_list.IgnoreEntry],
    options: Options,
    today: dt.date,
    sarif_path: str | None = None,
) -> Part:
    """Pure part: normalised findings and the ignore list in, checks and SARIF findings out."""
    findings = deduplicate(findings)
    applied = ignore_list.apply(findings, entries, today)
    buckets: dict[str, list[tuple[VulnFinding, ignore_list.IgnoreEntry | None]]] = {
        k: [] for k in ("blocking", "no-fix", "below-cutoff", "suppressed", "scanner-suppressed")
    }
    part = Part(CATEGORY)
    for i, finding in enumerate(findings):
        entry = applied.suppressed.get(i)
        name = bucket(finding, entry, options)
        buckets[name].append((finding, entry))
        part.findings.append(_sarif_finding(finding, name, entry, options, sarif_path))
    blocking = buckets["blocking"]
    blocking.sort(key=lambda fe: (-severity_rank(fe[0].severity, options.unknown_severity), fe[0].id))
    cutoff = f"severity >= {options.severity}" + (", fix available" if options.only_fixed else "")
    others = ", ".join(f"{len(v)} {k.replace('-', ' ')}" for k, v in buckets.items() if v and k != "blocking")
    if blocking:
        top = ", ".join(f"{f.id} ({f.severity}, {f.package or f.location or '?'})" for f, _ in blocking[:5])
        more = f" and {len(blocking) - 5} more" if len(blocking) > 5 else ""
        why = (
            f"{len(blocking)} finding{'s' if len(blocking) != 1 else ''} at or above {options.severity}: "
            f"{top}{more}" + (f" (also {others})" if others else "")
        )
        status = Status.FAIL
    else:
        why = (
            f"no findings at or above {options.severity} in {len(findings)} unique finding"
            f"{'s' if len(findings) != 1 else ''}" + (f" ({others})" if others else "")
        )
        status = Status.PASS
    part.checks.append(
        Check(
            name="vulns",
            status=status,
            value=len(blocking),
            threshold=cutoff,
            why=why,
            details={"counts": {k: len(v) for k, v in buckets.items()}},
        )
    )
    if applied.expired:
        listed = "; ".join(
            f"{e.describe()} expired {e.expires.isoformat()} ('{e.reason}')"
            + (f", now counts again for {n} finding{'s' if n != 1 else ''}" if n else ", matches nothing now")
            for e, n in applied.expired
        )
        part.checks.append(
            Check(
                name="vulns:ignore-expired",
                status=Status.FAIL if options.expired_ignore == "fail" else Status.WARN,
                value=len(applied.expired),
                threshold="ignore entries must not be expired",
                why=f"EXPIRED ignore entr{'ies' if len(applied.expired) > 1 else 'y'} no longer suppress: {listed}. "
                f"Renew with a new date and reason, or remove",
                details={
                    "expired": [
                        {
                            "id": e.id,
                            "package": e.package,
                            "version": e.version,
                            "reason": e.reason,
                            "expires": e.expires.isoformat(),
                            "matching_findings": n,
                        }
                        for e, n in applied.expired
                    ]
                },
            )
        )
    part.summary = {
        "blocking": len(blocking),
        "total": len(findings),
        "suppressed": len(buckets["suppressed"]),
        "expired-ignores": len(applied.expired),
    }
    part.evidence = {
        "cutoff": options.severity,
        "only_fixed": options.only_fixed,
        "unknown_severity": options.unknown_severity,
        "today": today.isoformat(),
        "counts": {k: len(v) for k, v in buckets.items()},
        "findings": {
            k: [
                dict(
                    f.to_dict(),
                    **({"ignored_by": {"reason": e.reason, "expires": e.expires.isoformat()}} if e else {}),
                )
                for f, e in v
            ]
            for k, v in buckets.items()
        },
        "ignore_expired": [e.describe() for e, _ in applied.expired],
        "ignore_unused": [e.describe() for e in applied.unused],
    }
    titles = {
        "blocking": "Blocking vulnerabilities",
        "no-fix": "At or above the cutoff but no fix (only_fixed)",
        "below-cutoff": "Below the severity cutoff",
        "suppressed": "Suppressed by the ignore list",
        "scanner-suppressed": "Suppressed by the scanner",
    }
    for name, rows in buckets.items():
        if rows:
            part.tables[titles[name]] = markdown_table(
                [
                    "id",
                    "severity",
                    "package",
                    "installed",
                    "fixed in",
                    "fix state",
                    "source",
                    "why suppressed",
                ],
                [
                    [
                        f.id,
                        f.severity,
                        f.package or f.location or "",
                        f.version or "",
                        ", ".join(f.fixed_versions),
                        f.fix_state,
                        ", ".join(s.split(":", 1)[0] for s in f.sources),
                        f"{e.reason} (until {e.expires.isoformat()})" if e else (f.scanner_suppressed or ""),
                    ]
                    for f, e in rows
                ],
            )
    if applied.expired:
        part.tables["EXPIRED ignore entries"] = markdown_table(
            ["id", "package", "expired", "reason", "findings it would cover"],
            [[e.id, e.package or "", e.expires.isoformat(), e.reason, n] for e, n in applied.expired],
        )
    return part


def _sarif_finding(
    f: VulnFinding, name: str, entry: ignore_list.IgnoreEntry | None, options: Options, sarif_path: str | None
) -> Finding:
    pkg = f" in {f.package} {f.version or ''}".rstrip() if f.package else ""
    fix = (
        f"; fixed in {', '.join(f.fixed_versions)}"
        if f.fixed_versions
        else ("; no fix available" if f.fix_state in ("not-fixed", "wont-fix") else "")
    )
    where = f" ({f.location})" if f.location and sarif_path else ""
    message = f"{f.id}{pkg} ({f.severity}){fix}{where}." + (f" {f.title}" if f.title else "")
    path, line = (sarif_path, None) if sarif_path else (_location_path(f), f.line)
    suppressed = (
        f"{entry.reason} (accepted until {entry.expires.isoformat()})" if entry else f.scanner_suppressed
    )
    score = (
        f"{f.cvss:.1f}"
        if f.cvss is not None
        else _SECURITY_SEVERITY.get(f.severity if f.severity != "unknown" else options.unknown_severity)
    )
    return Finding(
        rule_id=f.id,
        level=_LEVEL[name],
        message=message,
        category=CATEGORY,
        location=Location(path, line) if path else None,
        severity=f.severity,
        suppressed=suppressed,
        properties={
            "package": f.package,
            "installed_version": f.version,
            "fixed_versions": list(f.fixed_versions),
            "fix_state": f.fix_state,
            "aliases": list(f.aliases),
            "bucket": name,
            "sources": list(f.sources),
            "rule_name": f"{f.id}{pkg}",
            "help_uri": f.url,
            "rule_help": f.title,
            "tags": ["security", "vulnerability"],
            "security_severity": score,
        },
    )


def _location_path(f: VulnFinding) -> str | None:
    """Scanner paths inside an image are absolute there, not here: make them relative for code scanning."""
    if not f.location:
        return None
    path = f.location
    if path.startswith("/") and not Path(path).exists():
        path = path.lstrip("/")
    return path


# --- pip-audit -------------------------------------------------------------------------------------------------


_UNREACHABLE = (
    "connectionerror",
    "connection error",
    "max retries",
    "name or service not known",
    "temporary failure in name resolution",
    "network is unreachable",
    "timed out",
    "read timed out",
    "proxyerror",
    "ssl",
    "connection refused",
    "failed to establish",
    "tip: your network",
)


def pip_audit_command() -> list[str] | None:
    exe = shutil.which("pip-audit")
    if exe:
        return [exe]
    import importlib.util

    if importlib.util.find_spec("pip_audit") is not None:
        return [sys.executable, "-m", "pip_audit"]
    return None


def run_pip_audit(
    requirements: Path, label: str, timeout: float, extra_args: list[str]
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """Run pip-audit on one requirements file: (report, problem, service_unreachable)."""
    command = pip_audit_command()
    if command is None:
        return None, "pip-audit is not installed (pip install pip-audit)", False
    with tempfile.TemporaryDirectory(prefix="mlgate-pip-audit-") as tmp:
        output = Path(tmp) / "pip-audit.json"
        argv = [
            *command,
            "-r",
            str(requirements),
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "--output",
            str(output),
            *extra_args,
        ]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, "PIP_AUDIT_PROGRESS_SPINNER": "off"},
            )
        except subprocess.TimeoutExpired:
            return (
                None,
                (
                    f"pip-audit on {label} did not finish within {timeout:g} s (vulnerability service "
                    f"unreachable or slow)"
                ),
                True,
            )
        text = output.read_text(encoding="utf-8") if output.exists() else ""
        if text.strip():
            try:
                return json.loads(text), None, False
            except json.JSONDecodeError as exc:
                return None, f"pip-audit on {label} wrote invalid JSON ({exc.msg})", False
        if proc.returncode == 0:
            return {"dependencies": []}, None, False
        tail = " ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])[:400]
        unreachable = any(word in tail.lower() for word in _UNREACHABLE)
        what = "the vulnerability service could not be reached" if unreachable else "pip-audit failed"
        return None, f"pip-audit on {label}: {what} (exit {proc.returncode}): {tail}", unreachable


# --- the sub-check ---------------------------------------------------------------------------------------------


def check(
    section: Vulns | Mapping[str, Any], ctx: GateContext, levels: dict[str, str], today: dt.date | None = None
) -> Part:
    options = Vulns.parse(section, "security.vulns")
    # the ignore list's own reader turns expiry values (dates, text) into dates, with its own messages
    entries = ignore_list.parse_entries([entry.model_dump(exclude_unset=True) for entry in options.ignore])
    findings: list[VulnFinding] = []
    reports: list[dict[str, Any]] = []
    extra_checks: list[Check] = []
    infra = False
    for item in options.reports:
        spec = ReportSpec(path=item) if isinstance(item, str) else item
        path = ctx.path(spec.path, what="vulnerability report")
        report = read_report(path, spec.format, label=spec.path)
        findings += report.findings
        reports.append(_report_entry(spec.path, report.format, report))
    audit = options.pip_audit
    if audit:
        for req in as_list(audit.requirements):
            path = ctx.path(req, what="requirements file")
            data, problem, unreachable = run_pip_audit(path, req, audit.timeout, list(audit.args))
            if data is None:
                missing = problem is not None and problem.startswith("pip-audit is not installed")
                if missing and audit.if_available:
                    extra_checks.append(
                        Check(
                            "vulns:pip-audit",
                            Status.WARN,
                            f"{problem}: {req} not audited (pip_audit.if_available is set)",
                        )
                    )
                else:
                    extra_checks.append(
                        Check(
                            "vulns:pip-audit",
                            Status.ERROR,
                            problem or "pip-audit failed",
                            location=Location(str(path)),
                        )
                    )
                    infra = infra or unreachable
                continue
            report = read_data(data, "pip-audit", req)
            for f in report.findings:
                f.location = str(path)
            findings += report.findings
            reports.append(_report_entry(req, "pip-audit (run)", report))
            # offline, pip-audit's PyPI service skips every dependency as 'not found' and exits 0
            infra = infra or (report.audited == 0 and bool(report.skipped))
    if not reports and not extra_checks:
        raise InputError("security.vulns: no reports and no pip_audit requirements: nothing to check")
    sarif_path = str(ctx.path(options.sarif_location, must_exist=False)) if options.sarif_location else None
    part = evaluate(findings, entries, options, today or dt.date.today(), sarif_path)
    if not reports:  # pip-audit could not run at all: no evidence, so no passing verdict either
        part.checks = [c for c in part.checks if c.name != "vulns"]
    part.checks = extra_checks + part.checks
    part.checks += _skipped_check(reports, ctx)
    part.evidence["reports"] = reports
    part.evidence["infra_error"] = infra
    return part


def _report_entry(path: str, fmt: str, report: Report) -> dict[str, Any]:
    """What the evidence says about one report: format, findings and, for pip-audit, what it did not audit."""
    entry: dict[str, Any] = {"path": path, "format": fmt, "findings": len(report.findings)}
    if report.audited is not None:
        entry.update(skipped=report.skipped, audited=report.audited)
    return entry


def _skipped_check(reports: list[dict[str, Any]], ctx: GateContext) -> list[Check]:
    """Dependencies pip-audit skipped are unknown, not clean: a warning, and an error when it audited none.

    pip-audit cannot reach PyPI offline, skips every dependency as 'not found on PyPI' and exits 0; a report in
    which nothing was audited is no evidence, so it must not pass."""
    not_audited = [(r["path"], d) for r in reports for d in r.get("skipped") or []]
    if not not_audited:
        return []
    blind = [r["path"] for r in reports if r.get("skipped") and not r.get("audited")]
    names = ", ".join(
        f"{d.get('name') or '?'} ({d.get('reason') or 'no reason given'})" for _, d in not_audited[:5]
    ) + (f" (and {len(not_audited) - 5} more)" if len(not_audited) > 5 else "")
    count = f"{len(not_audited)} dependenc{'y was' if len(not_audited) == 1 else 'ies were'}"
    why = f"{count} not audited by pip-audit, so their vulnerabilities are unknown: {names}"
    if blind:
        why = f"pip-audit audited no dependency at all in {', '.join(blind)} (offline?): {why}"
    return [
        Check(
            "vulns:pip-audit-skipped",
            Status.ERROR if blind else Status.WARN,
            value=len(not_audited),
            threshold="every dependency audited",
            why=why.replace("\n", " "),
            location=Location(str(ctx.path(not_audited[0][0], must_exist=False))),
            details={"skipped": [{"report": path, **d} for path, d in not_audited]},
        )
    ]
