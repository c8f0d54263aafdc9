"""Step outputs in $GITHUB_OUTPUT, written with random heredoc delimiters so any value is safe.

`status` and `exit-code` are the verdict; `blocking` says whether the process exit blocked (false when
--fail-on keeps a failed verdict from blocking). Paths are absolute, so a later step with another
working-directory (actions/upload-artifact resolves against the workspace) finds the same files.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from gates.core.result import GateResult, process_exit_code, report_only_note, worst
from gates.formats import Output


def absolute(path: Path | str) -> str:
    """The path from the current working directory made absolute (normalised, symlinks kept)."""
    return os.path.abspath(path)


def values(results: list[GateResult], exit_code: int, files: list[Path], out: Output) -> dict[str, str]:
    report_dir = Path(absolute(out.report_dir))
    data = {
        "status": worst([r.status for r in results]).value,
        "exit-code": str(exit_code),
        "blocking": "true" if process_exit_code(exit_code, out.fail_on) else "false",
        "report-dir": str(report_dir),
        "report": str(report_dir / f"{out.name}.json"),
        "summary": str(report_dir / "summary.md"),
        "junit": str(report_dir / "junit.xml"),
        "failed-checks": str(sum(r.counts()["fail"] + r.counts()["error"] for r in results)),
    }
    sarif = [absolute(p) for p in files if p.suffix == ".sarif"]
    if sarif:
        data["sarif"] = sarif[0] if len(sarif) == 1 else json.dumps(sarif)
    for r in results:
        data[f"{r.gate}-status"] = r.status.value
        for key, value in r.summary.items():
            data[f"{r.gate}-{key}".replace("_", "-")] = value if isinstance(value, str) else json.dumps(value)
    return data


def format_outputs(data: dict[str, str]) -> str:
    chunks = []
    for key, value in data.items():
        delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
        while delimiter in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
        chunks.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def write(results: list[GateResult], out: Output, exit_code: int, files: list[Path]) -> list[Path]:
    target = out.env_path("GITHUB_OUTPUT")
    if target:
        with target.open("a", encoding="utf-8") as handle:
            handle.write(format_outputs(values(results, exit_code, files, out)))
    return []


def write_values(out: Output, data: dict[str, str]) -> None:
    """More step outputs once the reports are written (the audit trail's `audit-log` and `audit-head`)."""
    target = out.env_path("GITHUB_OUTPUT")
    if target:
        with target.open("a", encoding="utf-8") as handle:
            handle.write(format_outputs(data))


def write_early_failure(env: dict[str, str], code: int, message: str, fail_on: str = "fail") -> None:
    """mlgate stopped before any gate ran (bad flags, unreadable policy): still tell the workflow, never silence.

    Writes `status=error`, the exit code and `blocking` as step outputs, a line in the job summary, and an
    annotation.
    """
    blocking = process_exit_code(code, fail_on) != 0
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(
                format_outputs(
                    {
                        "status": "error",
                        "exit-code": str(code),
                        "blocking": "true" if blocking else "false",
                        "error": message,
                    }
                )
            )
    if env.get("GITHUB_STEP_SUMMARY"):
        note = report_only_note(code, fail_on)
        shown = message if len(message) <= 20_000 else message[:20_000] + " …"
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write("## ⛔ mlgate: error\n\n" + (f"> {note}\n\n" if note else "") + f"{shown}\n\n")
    if env.get("GITHUB_ACTIONS") == "true":
        from gates.formats.annotate import escape_data

        print(f"::error title=mlgate::{escape_data(message)}")
