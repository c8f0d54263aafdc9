"""The JSON report: one file for the run and one per gate, with a versioned schema."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from gates import __version__
from gates.core.result import REPORT_SCHEMA_VERSION, GateResult, exit_code, worst
from gates.formats import Output


def document(results: list[GateResult]) -> dict:
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": "mlgate", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": worst([r.status for r in results]).value,
        "exit_code": exit_code(results),
        "gates": [r.to_dict() for r in results],
    }


def write(results: list[GateResult], out: Output) -> list[Path]:
    written = []
    for result in results:
        path = out.report_dir / f"{result.gate}.json"
        path.write_text(json.dumps(document([result]), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        written.append(path)
    path = out.report_dir / f"{out.name}.json"
    path.write_text(json.dumps(document(results), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return [path, *written]
