"""Output formats. Each module renders the same list of GateResults; none decides anything.

A format is a function `write(results, out) -> list[Path]` returning the files it wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gates.core.result import GateResult, process_exit_code

# GitHub's limits on what one step may show (docs: "Adding a job summary", "Setting an error message"): a job
# summary over 1 MiB is dropped whole, and at most 10 error, 10 warning and 10 notice annotations per step are
# shown (50 per job). mlgate stays inside them and points to the report artifact for the rest.
GITHUB_SUMMARY_LIMIT = 1024 * 1024
SUMMARY_BUDGET = 900 * 1024  # bytes one mlgate process appends to $GITHUB_STEP_SUMMARY at most
ANNOTATIONS_PER_LEVEL = 10


@dataclass
class StepBudget:
    """What one mlgate process may still add to the step: summary bytes, and annotations per level."""

    summary_bytes: int = SUMMARY_BUDGET
    annotations: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("error", "warning", "notice"), ANNOTATIONS_PER_LEVEL)
    )


@dataclass
class Output:
    """Where results go: the report folder and the GitHub Actions files named by the environment.

    `fail_on` and `verdict` (the verdict's exit code, set by write_all) let the formats say whether the verdict
    blocks; `budget` is shared by every write of one process, so its limits hold for the whole run."""

    report_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    name: str = "mlgate"  # base name of the combined reports
    fail_on: str = "fail"
    verdict: int = 0
    budget: StepBudget = field(default_factory=StepBudget)

    @property
    def blocking(self) -> bool:
        """Whether the process exits non-zero for this verdict (see gates.core.result.process_exit_code)."""
        return process_exit_code(self.verdict, self.fail_on) != 0

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

    out.verdict = exit_code
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
        from gates.core.errors import InfraError

        raise InfraError("could not write reports: " + "; ".join(failures))
    return written
