"""Size and time of the human-readable reports for large results: report.html and the job summary.

    python bench/report_formats.py [--checks 5000] [--findings 3000] [--drift-columns 500]

A security gate with many findings and a drift gate with many columns (checks, per-column table, distance chart)
are rendered as report.html (inline SVG, self-contained) and as the Markdown summary (900 KiB budget). Reported:
bytes and milliseconds of each, best of three. Results: bench/results/report_formats.md (and .json). Seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS, machine

from gates.core.result import Check, Finding, GateResult, Location, Status
from gates.formats import markdown
from gates.formats.html import render_document
from gates.formats.json_report import document


def results(checks: int, findings: int, columns: int) -> list[GateResult]:
    security = GateResult(
        "security",
        checks=[
            Check(f"rule-{i}", Status.FAIL if i % 7 == 0 else Status.PASS, f"why {i}", value=i, threshold="0")
            for i in range(checks)
        ],
        findings=[
            Finding(
                f"CVE-2024-{i:05d}",
                "error" if i % 3 else "warning",
                f"package-{i} 1.0.{i % 10} is vulnerable",
                "vulns",
                Location("requirements.txt", i + 1),
                severity=("critical", "high", "medium", "low")[i % 4],
            )
            for i in range(findings)
        ],
    )
    drift_columns = [
        {"column": f"c{i}", "distance_value": (i % 13) / 100, "tolerance": 0.1, "drifted": i % 13 > 10}
        for i in range(columns)
    ]
    drift = GateResult(
        "drift",
        checks=[Check(f"column:c{i}", Status.PASS, "no drift", value=(i % 13) / 100) for i in range(columns)],
        evidence={"columns": drift_columns},
    )
    return [security, drift]


def best_of(runs: int, work) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--findings", type=int, default=3000)
    parser.add_argument("--drift-columns", type=int, default=500)
    args = parser.parse_args()
    gates = results(args.checks, args.findings, args.drift_columns)
    doc = document(gates)
    html_s, page = best_of(3, lambda: render_document(doc))
    md_s, summary = best_of(3, lambda: markdown.render(gates))
    row = {
        "checks": args.checks + args.drift_columns,
        "findings": args.findings,
        "html_bytes": len(page.encode()),
        "html_ms": round(html_s * 1000, 1),
        "summary_bytes": len(summary.encode()),
        "summary_ms": round(md_s * 1000, 1),
        "machine": machine(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report_formats.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "report_formats.md").write_text(
        "# Report formats on a large result\n\n"
        f"{row['checks']:,} checks and {row['findings']:,} findings (a security gate and a drift gate of "
        f"{args.drift_columns} columns); {row['machine']}.\n\n"
        "| format | size | time (best of 3) |\n|---|---|---|\n"
        f"| report.html | {row['html_bytes'] / 1024:,.0f} KiB | {row['html_ms']} ms |\n"
        f"| summary.md | {row['summary_bytes'] / 1024:,.0f} KiB (budget 900 KiB) | {row['summary_ms']} ms |\n",
        encoding="utf-8",
    )
    print(json.dumps(row))


if __name__ == "__main__":
    main()
