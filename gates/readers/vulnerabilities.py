"""Readers for vulnerability reports: one module per format, each `read(data, source) -> list[VulnFinding]`.

`read_report(path)` loads the JSON, detects the format from its shape (or takes the one given) and reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import VulnFinding

FORMATS = ("grype", "trivy", "pip-audit", "sarif")


def detect(data: Any) -> str | None:
    if isinstance(data, dict):
        if "matches" in data:
            return "grype"
        if "runs" in data and isinstance(data["runs"], list):
            return "sarif"
        if "SchemaVersion" in data or "Results" in data or "ArtifactName" in data:
            return "trivy"
        if "dependencies" in data and isinstance(data["dependencies"], list):
            return "pip-audit"
    if isinstance(data, list) and all(isinstance(d, dict) and "vulns" in d for d in data):
        return "pip-audit"  # pip-audit before 2.0 wrote a bare list
    return None


def read_report(
    path: Path, fmt: str | None = None, label: str | None = None
) -> tuple[str, list[VulnFinding]]:
    """Return (format, findings); any problem is an InputError naming the file and the place in it."""
    label = label or str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from None
    fmt = fmt or detect(data)
    if fmt is None:
        raise InputError(
            f"{label}: not a grype, trivy, pip-audit or SARIF JSON report "
            f"(set the report's format if it is one)"
        )
    return fmt, read_data(data, fmt, label)


def read_data(data: Any, fmt: str, label: str) -> list[VulnFinding]:
    from gates.readers import grype, pip_audit, sarif, trivy

    reader = {"grype": grype.read, "trivy": trivy.read, "pip-audit": pip_audit.read, "sarif": sarif.read}[fmt]
    try:
        return reader(data, label)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InputError(
            f"{label}: does not have the shape of a {fmt} report ({type(exc).__name__}: {exc})"
        ) from None


def expect(value: Any, kind: type, where: str) -> Any:
    """A field of a report must have the documented type; say where when it does not."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InputError(
            f"{where}: expected {'a list' if kind is list else 'an object' if kind is dict else kind}"
            f", got {type(value).__name__}"
        )
    return value
