"""Vulnerability reports: load the JSON, tell its format from positive evidence, hand it to that format's reader.

Each reader module (grype, trivy, pip_audit, sarif, cyclonedx) says what its format must contain (`EVIDENCE`) and
checks it (`recognise`): required keys with their types, a schema or version field. A format named in the policy
is checked too, a little more leniently (`strict=False`: an empty report, a BOM without vulnerabilities). No
format is taken from one key that another format also has (every CycloneDX BOM has a top-level `dependencies` list, like pip-audit). Input
that no reader or more than one reader recognises is an InputError listing the formats tried, never an empty pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from gates.core.errors import InputError
from gates.readers import cyclonedx, grype, pip_audit, sarif, trivy
from gates.readers.findings import VulnFinding

READERS: dict[str, ModuleType] = {
    "grype": grype,
    "trivy": trivy,
    "pip-audit": pip_audit,
    "sarif": sarif,
    "cyclonedx": cyclonedx,
}
FORMATS = tuple(READERS)


@dataclass
class Report:
    """One report read: its format, its findings, and (pip-audit) how many dependencies it audited and skipped."""

    format: str
    findings: list[VulnFinding]
    skipped: list[dict[str, str]] = field(default_factory=list)
    audited: int | None = None


def load_json(raw: bytes, label: str) -> Any:
    """Parse report bytes; a UTF-8 byte-order mark (PowerShell and some Windows tools write one) is allowed."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: byte {exc.start}: not UTF-8 text, so not a JSON report") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(f"{label}: JSON nested too deeply to be a scanner report") from None


def detect(data: Any, label: str = "report") -> str:
    """The one format whose evidence `data` carries; otherwise an InputError naming every format tried."""
    matches = [name for name, reader in READERS.items() if reader.recognise(data, strict=True)]
    if len(matches) == 1:
        return matches[0]
    if not matches and cyclonedx.is_sbom(data):
        raise InputError(f"{label}: {cyclonedx.SBOM_MESSAGE}")
    tried = "; ".join(f"{name} ({reader.EVIDENCE})" for name, reader in READERS.items())
    if matches:
        raise InputError(
            f"{label}: ambiguous report: it fits {' and '.join(matches)}; set its format. Formats tried: {tried}"
        )
    raise InputError(f"{label}: not a vulnerability report mlgate reads. Formats tried: {tried}")


def read_report(path: Path, fmt: str | None = None, label: str | None = None) -> Report:
    """Read one report file; any problem is an InputError naming the file and the place in it."""
    label = label or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{label}: cannot read the report ({exc.strerror or exc})") from None
    data = load_json(raw, label)
    return read_data(data, fmt or detect(data, label), label)


def read_data(data: Any, fmt: str, label: str) -> Report:
    """Read parsed JSON as `fmt`, after checking that it carries the evidence of that format."""
    if fmt not in READERS:
        raise InputError(f"{label}: unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")
    reader = READERS[fmt]
    if not reader.recognise(data, strict=False):
        raise InputError(f"{label}: not a {fmt} report (expected {reader.EVIDENCE})")
    try:
        findings = reader.read(data, label)
    except (
        KeyError,
        TypeError,
        AttributeError,
        ValueError,
    ) as exc:  # a reader's gap, still one line for the user
        raise InputError(
            f"{label}: does not have the shape of a {fmt} report ({type(exc).__name__}: {exc})"
        ) from None
    if fmt == "pip-audit":
        return Report(fmt, findings, pip_audit.skipped(data), pip_audit.audited(data))
    return Report(fmt, findings)
