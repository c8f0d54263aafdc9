"""A self-contained HTML report: every gate's table and its pictures (embedded, so one file can be uploaded)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from gates.core.result import GateResult, worst
from gates.formats import Output
from gates.formats.markdown import canary_table
from gates.formats.text import interval, number

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.pass{color:#1a7f37}.warn{color:#9a6700}.fail,.error{color:#cf222e}img{max-width:100%;border:1px solid #eee}"""


def render(results: list[GateResult], out: Output) -> str:
    overall = worst([r.status for r in results]).value
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>mlgate report: {overall}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>mlgate: <span class='{overall}'>{overall}</span></h1>",
    ]
    for r in results:
        status = r.status.value
        parts.append(
            f"<h2 id='{html.escape(r.gate)}'>{html.escape(r.gate)}: <span class='{status}'>{status}</span></h2>"
        )
        parts.append(
            "<table><tr><th>check</th><th>status</th><th>value</th><th>interval</th>"
            "<th>threshold</th><th>why</th></tr>"
        )
        for c in r.checks:
            parts.append(
                f"<tr><td>{html.escape(c.name)}</td><td class='{c.status.value}'>{c.status.value}</td>"
                f"<td>{number(c.value)}</td><td>{interval(c)}</td>"
                f"<td>{html.escape(c.threshold or '')}</td><td>{html.escape(c.why)}</td></tr>"
            )
        parts.append("</table>")
        analyses = canary_table(r)
        if analyses:
            parts.append(pipe_table(analyses))
        for title, table in r.evidence.get("tables", {}).items():
            parts.append(f"<details><summary>{html.escape(title)}</summary>{pipe_table(table)}</details>")
        for name, path in r.artifacts.items():
            picture = Path(path)
            if picture.suffix == ".png" and picture.is_file():
                data = base64.b64encode(picture.read_bytes()).decode("ascii")
                parts.append(
                    f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(name)}</figcaption></figure>"
                )
    parts.append("</body></html>")
    return "\n".join(parts)


def pipe_table(markdown: str) -> str:
    """Render the Markdown pipe tables that gates put in evidence["tables"] (escaped pipes kept as text)."""
    rows = [line.strip() for line in markdown.strip().splitlines() if line.strip().startswith("|")]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    cells = [row for row in cells if not all(set(c) <= set("-: ") for c in row)]
    if not cells:
        return f"<pre>{html.escape(markdown)}</pre>"
    head, body = cells[0], cells[1:]
    out = ["<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body]
    return "".join(out) + "</table>"


def write(results: list[GateResult], out: Output) -> list[Path]:
    path = out.report_dir / "report.html"
    path.write_text(render(results, out), encoding="utf-8")
    return [path]
