"""Where the vulnerability-report fixtures live, and a one-call reader for them (shared by the reader tests)."""

from __future__ import annotations

from pathlib import Path

from gates.readers.findings import VulnFinding
from gates.readers.vulnerabilities import Report, read_report

SECURITY = Path(__file__).parent.parent / "fixtures" / "security"
REPORTS = SECURITY / "reports"


def report(name: str, fmt: str | None = None) -> Report:
    """Read a fixture by its name under fixtures/security (e.g. `reports/ruff-0.17.sarif`)."""
    return read_report(SECURITY / name, fmt)


def by_id(findings: list[VulnFinding]) -> dict[str, VulnFinding]:
    return {f.id: f for f in findings}
