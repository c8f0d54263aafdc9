"""Promotion and rollback as alias moves, with the evidence written on the model version.

Promote: the report's verdict decides. On pass (or warn) the target alias (champion) moves to the version of
the source alias (challenger), and that version is tagged with the verdict, the report's sha256 and the audit
trail's head, plus the version the alias pointed to before (`mlgate.previous.<alias>`), which is what a rollback
returns to. On fail or error no alias moves; the version is tagged with the verdict and the reasons.

Safety checks come before any write, so a refusal changes nothing: the report must parse, the audit trail must
verify (a tampered trail is no evidence), and when the report came from `mlgate registry evaluate` the version
it judged must be the version about to be promoted (an alias moved after the evaluation is caught).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gates.core.audit import GENESIS, verify
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.registry.store import RegistryStore, VersionInfo

GATE = "registry"
TAG = "mlgate."
REASONS_LIMIT = 4000  # characters of reasons in one tag (MLflow limits tag values to 5000 on some stores)
PASSING = ("pass", "warn")


@dataclass(frozen=True)
class Report:
    """The report a promotion is decided on: its verdict, digest, reasons and the version it judged."""

    path: Path
    sha256: str
    status: str
    reasons: list[str]
    judged: dict[str, Any] | None  # registry evidence of the candidate, when `registry evaluate` wrote it


def read_report(path: Path) -> Report:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: report not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the report ({exc.strerror})") from None
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON report ({type(exc).__name__})") from None
    status = document.get("status") if isinstance(document, dict) else None
    gates = document.get("gates") if isinstance(document, dict) else None
    if status not in ("pass", "warn", "fail", "error") or not isinstance(gates, list) or not gates:
        raise InputError(f"{path}: not an mlgate report (expected 'status' and a non-empty 'gates' list)")
    reasons: list[str] = []
    judged = None
    for gate in gates:
        if not isinstance(gate, dict):
            raise InputError(f"{path}: not an mlgate report (a 'gates' entry is not an object)")
        for check in gate.get("checks") or []:
            if isinstance(check, dict) and check.get("status") in ("fail", "error"):
                reasons.append(f"{gate.get('gate')}/{check.get('name')}: {check.get('why')}")
        if gate.get("gate") == GATE and isinstance(gate.get("evidence"), dict):
            candidate = gate["evidence"].get("candidate")
            judged = candidate if isinstance(candidate, dict) and candidate.get("version") else None
    return Report(path, hashlib.sha256(data).hexdigest(), status, reasons, judged)


def audit_head(path: Path | None) -> str:
    """The trail's head hash before this change; a trail that does not verify stops the change (exit 2)."""
    if path is None or not path.exists():
        return GENESIS if path is not None else ""
    checked = verify(path)
    if not checked.ok:
        raise InputError(
            f"{path}: the audit trail does not verify ({checked.problems[0]}); refusing to change the registry"
        )
    return checked.head


def keep_report(report: Report, report_dir: Path) -> Path:
    """A copy of the decided-on report under its digest, so writing this command's own report cannot
    replace the evidence (both default to REPORT_DIR/mlgate.json)."""
    target = report_dir / "registry-evidence" / f"report-{report.sha256[:16]}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.resolve() != report.path.resolve():
        shutil.copyfile(report.path, target)
    return target


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def promote(
    store: RegistryStore,
    model: str,
    source: VersionInfo,
    target_alias: str,
    report: Report,
    head: str,
    kept: Path,
) -> GateResult:
    """Move `target_alias` to `source` when the report passes; tag `source` either way."""
    result = GateResult(gate=GATE)
    previous = store.aliases(model).get(target_alias)
    bound = report.judged is not None
    if bound and report.judged is not None:
        judged = (str(report.judged.get("name")), str(report.judged.get("version")))
        if judged != (source.name, source.version):
            raise InputError(
                f"{report.path}: the report judged {judged[0]!r} version {judged[1]}, not version "
                f"{source.version} of {source.name!r} (the alias moved after the evaluation): evaluate again"
            )
    tags = {
        f"{TAG}verdict": report.status,
        f"{TAG}report_sha256": report.sha256,
        f"{TAG}decided_at": _now(),
    }
    if head:  # empty with --no-audit: there is no trail to point to
        tags[f"{TAG}audit_head"] = head
    passed = report.status in PASSING
    summary: dict[str, Any] = {
        "action": "promote" if passed else "refuse",
        "model": model,
        "alias": target_alias,
        "version": source.version,
        "previous": previous or "none",
        "verdict": report.status,
        "report_sha256": report.sha256,
        "bound": bound,
    }
    if passed:
        tags[f"{TAG}previous.{target_alias}"] = previous or "none"
        store.set_tags(model, source.version, tags)
        if previous != source.version:
            store.set_alias(model, target_alias, source.version)
        moved = f"{previous or 'none'} -> {source.version}" if previous != source.version else "unchanged"
        result.checks.append(
            Check(
                name=f"alias:{target_alias}",
                status=Status.PASS,
                value=source.version,
                why=f"report {report.status}: {model!r} alias {target_alias!r} {moved}; version "
                f"{source.version} tagged with the verdict, report digest and audit head",
            )
        )
    else:
        reasons = "; ".join(report.reasons) or f"the report's verdict is {report.status}"
        if len(reasons) > REASONS_LIMIT:
            reasons = reasons[: REASONS_LIMIT - 1] + "…"
        tags[f"{TAG}reasons"] = reasons
        store.set_tags(model, source.version, tags)
        result.checks.append(
            Check(
                name=f"alias:{target_alias}",
                status=Status.FAIL,
                value=previous or "none",
                why=f"report {report.status}: alias {target_alias!r} stays at {previous or 'none'}; version "
                f"{source.version} tagged with the reasons ({len(report.reasons)} failed check(s))",
            )
        )
    if not bound:
        result.checks.append(
            Check(
                name="report:binding",
                status=Status.WARN,
                why=f"{report.path.name} names no registry version (not written by `mlgate registry evaluate`): "
                f"that it judged version {source.version} is taken on trust",
            )
        )
    result.summary = summary
    result.evidence = {
        "tracking_uri": store.shown,
        "report": {"path": str(report.path), "sha256": report.sha256, "copy": str(kept)},
        "audit_head_before": head,
        "tags": tags,
        "source": source.evidence(),
    }
    return result


def previous_from_audit(path: Path | None, model: str, alias: str, version: str) -> str | None:
    """The version `alias` pointed to before `version` was promoted, from the last matching audit record."""
    if path is None or not path.is_file():
        return None
    found = None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            summary = record.get("summary") if isinstance(record, dict) else None
            if (
                record.get("gate") == GATE
                and isinstance(summary, dict)
                and summary.get("action") == "promote"
                and summary.get("model") == model
                and summary.get("alias") == alias
                and str(summary.get("version")) == version
            ):
                found = str(summary.get("previous"))
    return found


def rollback(store: RegistryStore, model: str, alias: str, audit: Path | None, to: str | None) -> GateResult:
    """Move `alias` back to the version it pointed to before its current one (or to `to`)."""
    current = store.by_alias(model, alias)
    source = "--to"
    target = to
    if target is None:
        target = current.tags.get(f"{TAG}previous.{alias}")
        source = f"tag {TAG}previous.{alias} on version {current.version}"
        if not target:
            target = previous_from_audit(audit, model, alias, current.version)
            source = "the audit trail"
    if not target or target == "none":
        raise InputError(
            f"model {model!r} alias {alias!r} (version {current.version}): no earlier version is recorded "
            f"(neither a {TAG}previous.{alias} tag nor an audit record); give --to VERSION"
        )
    store.model_version(model, target)  # an unknown version stops here, before anything changes
    store.set_alias(model, alias, target)
    store.set_tags(model, current.version, {f"{TAG}rolled_back.{alias}": f"{_now()} -> {target}"})
    result = GateResult(gate=GATE)
    result.checks.append(
        Check(
            name=f"alias:{alias}",
            status=Status.PASS,
            value=target,
            why=f"{model!r} alias {alias!r} rolled back {current.version} -> {target} (from {source})",
        )
    )
    result.summary = {
        "action": "rollback",
        "model": model,
        "alias": alias,
        "version": target,
        "previous": current.version,
    }
    result.evidence = {"tracking_uri": store.shown, "from": current.evidence(), "found_in": source}
    return result
