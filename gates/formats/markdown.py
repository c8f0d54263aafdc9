"""The Markdown job summary: written to the report folder and appended to $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from pathlib import Path

from gates.formats import Output
from gates.formats.text import ICON, interval, number
from gates.result import GateResult, worst


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(results: list[GateResult], links: dict[str, str] | None = None) -> str:
    overall = worst([r.status for r in results])
    lines = [f"## {ICON[overall]} mlgate: {overall.value}", ""]
    lines += ["| gate | status | checks |", "|---|---|---|"]
    for r in results:
        counts = ", ".join(f"{n} {s}" for s, n in r.counts().items() if n)
        lines.append(f"| {r.gate} | {ICON[r.status]} {r.status.value} | {counts} |")
    for r in results:
        lines += ["", f"### {ICON[r.status]} {r.gate}", ""]
        lines += ["| check | status | value | interval | threshold | why |", "|---|---|---|---|---|---|"]
        for c in r.checks:
            lines.append(f"| {_cell(c.name)} | {ICON[c.status]} {c.status.value} | {number(c.value)} | "
                         f"{interval(c)} | {_cell(c.threshold or '')} | {_cell(c.why)} |")
        for title, table in r.evidence.get("tables", {}).items():
            lines += ["", f"<details><summary>{title}</summary>", "", table, "", "</details>"]
        pictures = [(k, v) for k, v in r.artifacts.items() if v.endswith(".png")]
        if pictures:
            lines += ["", "Pictures: " + ", ".join(f"[{_cell(k)}]({Path(v).name})" for k, v in pictures)
                      + " (in the report folder and `report.html`)"]
    if links:
        lines += ["", "Reports: " + ", ".join(f"{name}: `{path}`" for name, path in links.items())]
    return "\n".join(lines) + "\n"


def write(results: list[GateResult], out: Output) -> list[Path]:
    text = render(results, links={"JSON": f"{out.name}.json", "JUnit": "junit.xml", "HTML": "report.html"})
    path = out.report_dir / "summary.md"
    path.write_text(text, encoding="utf-8")
    summary = out.env_path("GITHUB_STEP_SUMMARY")
    if summary:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return [path]
