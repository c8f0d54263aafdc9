"""The HTML report: one self-contained file (inline CSS, script and SVG; nothing fetched) a reviewer opens.

It heads with the verdict of every gate and the check that decided it (value, interval, threshold), then one
section per gate reachable from the side navigation: its checks, its charts (per-group bars with intervals, ROC
and calibration against the baseline, drift histograms, the canary timeline with its sequential bounds), its
findings and evidence tables, which sort (click a heading) and filter (type, or pick "not passing"). The page is
rendered from the JSON report's form of the results, so `render_document` draws a report read back from disk
exactly as the run that wrote it. Light and dark mode follow the reader's system; printing expands everything.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path
from typing import Any

from gates.core.result import GateResult, report_only_note
from gates.formats import Output, figures, svg
from gates.formats.markdown import canary_table
from gates.formats.text import ci_text, deciding_check, number

STATUSES = ("error", "fail", "warn", "pass")
_RANK = {s: i for i, s in enumerate(STATUSES)}  # most severe first
SEVERITIES = {
    "critical": 0,
    "high": 1,
    "error": 1,
    "medium": 2,
    "warning": 2,
    "moderate": 2,
    "low": 3,
    "note": 4,
}
FINDINGS_SHOWN = 2000  # rows of one findings table; the JSON report holds every finding

# Sorting (click a heading; numbers, then text; data-sort overrides a cell's text), filtering (text and a
# "not passing" switch) and printing (every <details> opened). Small on purpose: the page works without it.
_SCRIPT = """
(function () {
  function key(cell) {
    var raw = cell.getAttribute('data-sort');
    var text = raw !== null ? raw : cell.textContent.trim();
    var n = parseFloat(text.replace(/[%,]/g, ''));
    return isNaN(n) || !/^[-+]?[0-9.]/.test(text) ? [1, text.toLowerCase()] : [0, n];
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var descending = th.getAttribute('aria-sort') === 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      var order = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  function filter(table, text, failing, counter) {
    var words = text.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var content = row.textContent.toLowerCase();
      var ok = words.every(function (w) { return content.indexOf(w) >= 0; });
      if (failing) { ok = ok && row.getAttribute('data-status') !== 'pass'; }
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    counter.textContent = shown + ' of ' + table.tBodies[0].rows.length + ' rows';
  }
  document.querySelectorAll('table.data').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, index) {
      th.classList.add('sortable');
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, index, th); });
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sortBy(table, index, th); } });
    });
    var bar = table.parentNode.previousElementSibling;
    if (!bar || !bar.classList.contains('toolbar')) { return; }
    var input = bar.querySelector('input'), box = bar.querySelector('select'), counter = bar.querySelector('.shown');
    function update() { filter(table, input.value, box && box.value === 'failing', counter); }
    input.addEventListener('input', update);
    if (box) { box.addEventListener('change', update); }
    update();
  });
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(gate: str, index: int) -> str:
    return f"gate-{index}-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", gate).strip("-") or "gate")


def _status(value: Any) -> str:
    return value if value in _RANK else "error"


def render(results: list[GateResult], out: Output) -> str:
    from gates.formats.json_report import document

    return render_document(document(results), report_only_note(out.verdict, out.fail_on))


def render_document(doc: dict[str, Any], note: str | None = None) -> str:
    """The page for a JSON report document (gates.formats.json_report.document)."""
    gates = [g for g in doc.get("gates") or [] if isinstance(g, dict)]
    overall = _status(doc.get("status"))
    css = resources.files("gates.formats").joinpath("report.css").read_text(encoding="utf-8")
    tool = doc.get("tool") or {}
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing leaves the page: no fetches, no external scripts, styles or fonts
        (
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:\">"
        ),
        f"<title>mlgate report: {overall}</title>",
        f"<style>{css}</style></head><body>",
        f'<header id="top"><h1>mlgate <span class="badge {overall}">{overall}</span></h1>',
        (
            f'<p class="meta">{len(gates)} gate{"s" if len(gates) != 1 else ""} · exit code {_e(doc.get("exit_code"))}'
            f" · written {_e(doc.get('created', ''))} by {_e(tool.get('name', 'mlgate'))} {_e(tool.get('version', ''))}"
            "</p>"
        ),
    ]
    if note:
        parts.append(f'<p class="note">{_e(note)}</p>')
    parts.append('</header><div class="layout"><nav aria-label="gates"><ul>')
    parts.append('<li><a href="#verdicts"><span class="dot"></span>Verdicts</a></li>')
    for index, gate in enumerate(gates):
        status = _status(gate.get("status"))
        parts.append(
            f'<li><a href="#{_anchor(str(gate.get("gate")), index)}"><span class="dot {status}" '
            f'title="{status}"></span>{_e(gate.get("gate"))}</a></li>'
        )
    parts.append("</ul></nav><main>")
    parts += _verdicts(gates)
    for index, gate in enumerate(gates):
        parts += _gate_section(gate, index)
    parts.append("</main></div>")
    parts.append(
        "<footer>Self-contained report: no network access. The JSON report (mlgate.json) holds every number; "
        '<span class="screen-only">click a column heading to sort, type to filter.</span></footer>'
    )
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _verdicts(gates: list[dict[str, Any]]) -> list[str]:
    rows = []
    for position, g in sorted(enumerate(gates), key=lambda item: _RANK[_status(item[1].get("status"))]):
        status = _status(g.get("status"))
        check = deciding_check(g) or {}
        counts = g.get("counts") or {}
        more = sum(1 for c in g.get("checks") or [] if c.get("status") == status) - (1 if check else 0)
        name = _e(check.get("name", "no checks")) + (
            f' <span class="hint">(+{more} {status})</span>' if more > 0 else ""
        )
        rows.append(
            f'<tr class="{status}" data-status="{status}">'
            f'<td><a href="#{_anchor(str(g.get("gate")), position)}">{_e(g.get("gate"))}</a></td>'
            f'<td class="status" data-sort="{_RANK[status]}">{status}</td><td>{name}</td>'
            f'<td class="num">{_e(number(check.get("value")))}</td><td class="num">{ci_text(check.get("ci"))}</td>'
            f'<td>{_e(check.get("threshold") or "")}</td><td class="why"><div class="clamp" '
            f'title="{_e(check.get("why", ""))}">{_e(check.get("why", ""))}</div></td>'
            f'<td class="num">{", ".join(f"{n} {s}" for s, n in counts.items() if n)}</td></tr>'
        )
    return [
        '<section id="verdicts"><h2>Verdict per gate</h2>',
        '<p class="hint">Most severe first. The deciding check is the first check with the gate\'s status.</p>',
        (
            '<div class="table-wrap"><table class="data verdicts"><thead><tr><th>gate</th><th>status</th>'
            "<th>deciding check</th><th>value</th><th>interval</th><th>threshold</th><th>why</th><th>checks</th>"
            "</tr></thead><tbody>"
        ),
        *rows,
        "</tbody></table></div></section>",
    ]


def _toolbar(label: str, statuses: bool) -> str:
    select = (
        '<select aria-label="rows shown"><option value="all">all rows</option>'
        '<option value="failing">not passing</option></select>'
        if statuses
        else ""
    )
    return (
        f'<div class="toolbar"><input type="search" placeholder="filter {_e(label)}" aria-label="filter {_e(label)}">'
        f'{select}<span class="shown"></span></div>'
    )


def _gate_section(gate: dict[str, Any], index: int) -> list[str]:
    name, status = str(gate.get("gate")), _status(gate.get("status"))
    counts = gate.get("counts") or {}
    parts = [
        f'<section class="gate" id="{_anchor(name, index)}" data-gate="{_e(name)}">',
        f'<h2>{_e(name)} <span class="badge {status}">{status}</span></h2>',
        '<p class="counts">' + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "</p>",
    ]
    summary = {k: v for k, v in (gate.get("summary") or {}).items() if not isinstance(v, (dict, list))}
    if summary:
        parts.append('<dl class="summary">')
        parts += [f"<div><dt>{_e(k)}</dt><dd>{_e(number(v))}</dd></div>" for k, v in summary.items()]
        parts.append("</dl>")
    parts += _checks(gate)
    drawn = figures.charts(gate)
    if drawn:
        parts.append('<h3>Charts</h3><div class="charts">')
        for n, chart in enumerate(drawn):
            caption = f"<strong>{_e(chart.title)}</strong>" + (f"<br>{_e(chart.note)}" if chart.note else "")
            parts.append(
                f"<figure>{svg.render(chart, f'{index}-{n}')}<figcaption>{caption}</figcaption></figure>"
            )
        parts.append("</div>")
    parts += _findings(gate)
    result = GateResult(gate=name, evidence=gate.get("evidence") or {})
    analyses = canary_table(result)
    if analyses:
        parts.append(f"<h3>Canary analyses</h3>{pipe_table(analyses)}")
    for title, table in ((gate.get("evidence") or {}).get("tables") or {}).items():
        parts.append(f"<details><summary>{_e(title)}</summary>{pipe_table(str(table))}</details>")
    artifacts = gate.get("artifacts") or {}
    if artifacts:
        parts.append("<details><summary>Files</summary><ul>")
        parts += [f"<li>{_e(k)}: <code>{_e(Path(str(v)).name)}</code></li>" for k, v in artifacts.items()]
        parts.append("</ul></details>")
    parts.append("</section>")
    return parts


def _checks(gate: dict[str, Any]) -> list[str]:
    checks = [c for c in gate.get("checks") or [] if isinstance(c, dict)]
    if not checks:
        return ["<p>No checks: a gate without evidence is an error.</p>"]
    rows = []
    for c in sorted(checks, key=lambda c: _RANK[_status(c.get("status"))]):
        status = _status(c.get("status"))
        value = c.get("value")
        rows.append(
            f'<tr class="{status}" data-status="{status}"><td>{_e(c.get("name", ""))}</td>'
            f'<td class="status" data-sort="{_RANK[status]}">{status}</td>'
            f'<td class="num">{_e(number(value))}</td><td class="num">{ci_text(c.get("ci"))}</td>'
            f'<td>{_e(c.get("threshold") or "")}</td><td class="why">{_e(c.get("why", ""))}</td></tr>'
        )
    return [
        "<h3>Checks</h3>",
        _toolbar("checks", statuses=True),
        (
            '<div class="table-wrap"><table class="data checks"><thead><tr><th>check</th><th>status</th><th>value</th>'
            "<th>interval</th><th>threshold</th><th>why</th></tr></thead><tbody>"
        ),
        *rows,
        "</tbody></table></div>",
    ]


def _findings(gate: dict[str, Any]) -> list[str]:
    findings = [f for f in gate.get("findings") or [] if isinstance(f, dict)]
    if not findings:
        return []
    rows = []
    for f in findings[:FINDINGS_SHOWN]:
        severity = str(f.get("severity") or f.get("level") or "")
        location = f.get("location") or {}
        where = str(location.get("path", ""))
        if location.get("line"):
            where += f":{location['line']}"
        status = (
            "pass"
            if f.get("suppressed")
            else {"error": "fail", "warning": "warn"}.get(str(f.get("level")), "pass")
        )
        rows.append(
            f'<tr data-status="{status}"><td data-sort="{SEVERITIES.get(severity.lower(), 5)}">{_e(severity)}</td>'
            f'<td>{_e(f.get("rule_id", ""))}</td><td class="why">{_e(f.get("message", ""))}</td>'
            f"<td>{_e(where)}</td><td>{_e(f.get('category', ''))}</td><td>{_e(f.get('suppressed') or '')}</td></tr>"
        )
    more = len(findings) - len(rows)
    return [
        f"<h3>Findings ({len(findings)})</h3>",
        _toolbar("findings", statuses=True),
        (
            '<div class="table-wrap"><table class="data findings"><thead><tr><th>severity</th><th>rule</th>'
            "<th>message</th><th>location</th><th>category</th><th>suppressed because</th></tr></thead><tbody>"
        ),
        *rows,
        "</tbody></table></div>",
        *([f'<p class="hint">… and {more} more in the JSON report.</p>'] if more > 0 else []),
    ]


def pipe_table(markdown: str) -> str:
    """Render the Markdown pipe tables that gates put in evidence["tables"] (escaped pipes kept as text)."""
    rows = [line.strip() for line in markdown.strip().splitlines() if line.strip().startswith("|")]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    cells = [row for row in cells if not all(set(c) <= set("-: ") for c in row)]
    if not cells:
        return f"<pre>{_e(markdown)}</pre>"
    head, body = cells[0], cells[1:]
    out = ['<div class="table-wrap"><table class="data"><thead><tr>']
    out += [f"<th>{_e(c)}</th>" for c in head]
    out.append("</tr></thead><tbody>")
    out += ["<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in body]
    return "".join(out) + "</tbody></table></div>"


def write(results: list[GateResult], out: Output) -> list[Path]:
    path = out.report_dir / "report.html"
    path.write_text(render(results, out), encoding="utf-8")
    return [path]
