"""Step outputs in $GITHUB_OUTPUT, written with random heredoc delimiters so any value is safe."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from gates.formats import Output
from gates.result import GateResult, worst


def values(results: list[GateResult], exit_code: int, files: list[Path], out: Output) -> dict[str, str]:
    data = {
        "status": worst([r.status for r in results]).value,
        "exit-code": str(exit_code),
        "report-dir": str(out.report_dir),
        "report": str(out.report_dir / f"{out.name}.json"),
        "summary": str(out.report_dir / "summary.md"),
        "junit": str(out.report_dir / "junit.xml"),
        "failed-checks": str(sum(r.counts()["fail"] + r.counts()["error"] for r in results)),
    }
    sarif = [str(p) for p in files if p.suffix == ".sarif"]
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


def write_early_failure(env: dict[str, str], code: int, message: str) -> None:
    """mlgate stopped before any gate ran (bad flags, unreadable policy): still tell the workflow, never silence.

    Writes `status=error` and the exit code as step outputs, a line in the job summary, and an annotation.
    """
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(format_outputs({"status": "error", "exit-code": str(code), "error": message}))
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(f"## ⛔ mlgate: error\n\n{message}\n\n")
    if env.get("GITHUB_ACTIONS") == "true":
        from gates.formats.annotate import escape_data

        print(f"::error title=mlgate::{escape_data(message)}")
