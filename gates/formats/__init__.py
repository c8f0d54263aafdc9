"""Output formats. Each module renders the same list of GateResults; none decides anything.

A format is a function `write(results, out) -> list[Path]` returning the files it wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gates.result import GateResult


@dataclass
class Output:
    """Where results go: the report folder and the GitHub Actions files named by the environment."""

    report_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    name: str = "mlgate"  # base name of the combined reports

    @property
    def in_actions(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true"

    def env_path(self, variable: str) -> Path | None:
        value = self.env.get(variable)
        return Path(value) if value else None

    def relative(self, path: str) -> str:
        """Paths in annotations must be relative to the workspace for GitHub to link them."""
        workspace = self.env.get("GITHUB_WORKSPACE") or os.getcwd()
        try:
            return str(Path(path).resolve().relative_to(Path(workspace).resolve()))
        except ValueError:
            return path


def write_all(results: list[GateResult], out: Output, exit_code: int) -> list[Path]:
    """Write every format. Each is attempted even if another fails, so nothing is lost."""
    from gates.formats import annotate, html, json_report, junit, markdown, outputs, sarif

    out.report_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: list[str] = []
    for module in (json_report, junit, sarif, html, markdown, annotate):
        try:
            written += module.write(results, out)
        except OSError as exc:
            failures.append(f"{module.__name__.rsplit('.', 1)[-1]}: {exc}")
    try:
        written += outputs.write(results, out, exit_code=exit_code, files=written)
    except OSError as exc:
        failures.append(f"outputs: {exc}")
    if failures:
        from gates.errors import InfraError

        raise InfraError("could not write reports: " + "; ".join(failures))
    return written
