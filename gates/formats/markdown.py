"""The Markdown job summary: written to the report folder and appended to $GITHUB_STEP_SUMMARY.

GitHub drops a step summary over 1 MiB whole, so the summary has a byte budget (formats.SUMMARY_BUDGET for one
mlgate process, less when the step's summary file already holds something). The verdict header and the per-gate
verdict table (status and the deciding check's value, interval and threshold) always come first and are never
cut; then each gate's checks, most severe first (collapsed in a <details> when all pass), its charts (Mermaid
xychart, which GitHub draws inline: per-group rates, the canary timeline) and its tables in <details>;
what does not fit is counted ("… and 2,990 more checks (2,990 fail) in the report artifact"). summary.md in the
report folder holds the same text; the JSON, JUnit and HTML reports hold everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gates.core.result import Check, GateResult, Status, report_only_note, worst
from gates.formats import GITHUB_SUMMARY_LIMIT, SUMMARY_BUDGET, Output, figures, mermaid
from gates.formats.text import ICON, ci_text, deciding_check, interval, number

CELL_CHARS = 1000  # characters of one table cell; the reports hold the rest
_RANK = {Status.ERROR: 0, Status.FAIL: 1, Status.WARN: 2, Status.PASS: 4}
_BLOCK_RANK = 3  # charts and tables: after every error, failure and warning, before passing checks
MERMAID_CHARTS = 6  # charts per gate in the summary; report.html draws them all
_NOTE_RESERVE = 400  # bytes kept per gate for the "and N more" lines


def _cell(text: str, limit: int = CELL_CHARS) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _size(lines: list[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


@dataclass
class _Section:
    heading: list[str]
    rows: list[tuple[Check, str]]
    blocks: list[list[str]]
    closing: list[str] = field(default_factory=list)
    rows_shown: set[int] = field(default_factory=set)
    blocks_shown: set[int] = field(default_factory=set)


def render(
    results: list[GateResult],
    links: dict[str, str] | None = None,
    *,
    budget: int = SUMMARY_BUDGET,
    note: str | None = None,
    report: str = "mlgate.json",
) -> str:
    """The summary in at most `budget` bytes (UTF-8, the header excepted: it is never cut).

    `note` is a line shown under the title (the report-only notice); `report` is the file named for the rest."""
    overall = worst([r.status for r in results])
    head = [f"## {ICON[overall]} mlgate: {overall.value}", ""]
    if note:
        head += [f"> ℹ️ {note}", ""]
    head += [
        "| gate | status | deciding check | value | interval | threshold | checks |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        counts = ", ".join(f"{n} {s}" for s, n in r.counts().items() if n)
        check = deciding_check({"status": r.status.value, "checks": [c.to_dict() for c in r.checks]}) or {}
        head.append(
            f"| {_cell(r.gate)} | {ICON[r.status]} {r.status.value} | {_cell(str(check.get('name', '–')), 120)} | "
            f"{_cell(number(check.get('value')), 60)} | {ci_text(check.get('ci'))} | "
            f"{_cell(check.get('threshold') or '', 120)} | {counts} |"
        )
    tail = ["", "Reports: " + ", ".join(f"{name}: `{path}`" for name, path in links.items())] if links else []

    sections = [_section(r) for r in results]
    used = (
        _size(head) + _size(tail) + sum(_size(s.heading) + _size(s.closing) + _NOTE_RESERVE for s in sections)
    )
    items = [
        (_RANK[check.status], index, n, "row", _size([line]))
        for index, section in enumerate(sections)
        for n, (check, line) in enumerate(section.rows)
    ]
    items += [
        (_BLOCK_RANK, index, n, "block", _size(block))
        for index, section in enumerate(sections)
        for n, block in enumerate(section.blocks)
    ]
    rows_cut = False  # once a check row is left out, no less severe row is shown in its place
    for _, index, n, kind, size in sorted(items, key=lambda item: item[:3]):
        if kind == "row" and rows_cut:
            continue
        if used + size > budget:
            rows_cut = rows_cut or kind == "row"
            continue
        used += size
        (sections[index].rows_shown if kind == "row" else sections[index].blocks_shown).add(n)

    lines = list(head)
    for section in sections:
        lines += section.heading
        lines += [line for n, (_, line) in enumerate(section.rows) if n in section.rows_shown]
        hidden = [check for n, (check, _) in enumerate(section.rows) if n not in section.rows_shown]
        if hidden:
            by_status = {s: sum(1 for c in hidden if c.status is s) for s in _RANK}
            counts = ", ".join(f"{k:,} {s.value}" for s, k in by_status.items() if k)
            lines += ["", f"… and {len(hidden):,} more checks ({counts}) in the report artifact (`{report}`)"]
        lines += section.closing
        for n, block in enumerate(section.blocks):
            if n in section.blocks_shown:
                lines += block
        left = len(section.blocks) - len(section.blocks_shown)
        if left:
            lines += [
                "",
                (
                    f"… and {left} more table{'s' if left > 1 else ''} or pictures in the report artifact "
                    "(`report.html`)"
                ),
            ]
    return "\n".join(lines + tail) + "\n"


def _section(r: GateResult) -> _Section:
    """A gate's checks (collapsed when they all pass), then its charts, canary analyses and evidence tables."""
    heading = ["", f"### {ICON[r.status]} {_cell(r.gate)}", ""]
    closing: list[str] = []
    if r.status is Status.PASS:
        heading += [f"<details><summary>{len(r.checks)} checks passed</summary>", ""]
        closing = ["", "</details>"]
    heading += ["| check | status | value | interval | threshold | why |", "|---|---|---|---|---|---|"]
    checks = sorted(r.checks, key=lambda c: _RANK[c.status])  # most severe first; stable otherwise
    rows = [
        (
            c,
            (
                f"| {_cell(c.name, 300)} | {ICON[c.status]} {c.status.value} | {_cell(number(c.value), 300)} | "
                f"{interval(c)} | {_cell(c.threshold or '', 300)} | {_cell(c.why)} |"
            ),
        )
        for c in checks
    ]
    blocks: list[list[str]] = []
    for chart in figures.charts(r.to_dict())[:MERMAID_CHARTS]:
        block = mermaid.render(chart)
        if block:
            blocks.append(block)
    analyses = canary_table(r)
    if analyses:
        blocks.append(["", analyses])
    for title, table in r.evidence.get("tables", {}).items():
        blocks.append(["", f"<details><summary>{title}</summary>", "", table, "", "</details>"])
    return _Section(heading, rows, blocks, closing)


CANARY_ROWS = 20  # analyses shown in the summary table (the last ones); the JSON report holds them all
CANARY_METRICS = 4  # metrics per analysis row


def canary_table(result: GateResult) -> str:
    """The canary's analyses as one compact table: step, weight (effective weight), outcome, and for each
    metric that decided the outcome (those not passing, else all) the canary value against stable.

    Reads evidence["analyses"] as gates.deploy.canary records it: step, weight, effective_weight, outcome,
    judges[].metrics[] with metric, classification, value and details. Empty for any other result."""
    analyses = result.evidence.get("analyses")
    if result.gate != "canary" or not isinstance(analyses, list) or not analyses:
        return ""
    shown = analyses[-CANARY_ROWS:]
    lines = ["| step | weight (effective) | outcome | canary vs stable |", "|---|---|---|---|"]
    for a in shown:
        weight, effective = a.get("weight"), a.get("effective_weight")
        weights = f"{number(weight)}%" + (
            f" ({number(effective)}%)" if effective is not None and effective != weight else ""
        )
        lines.append(
            f"| {_cell(str(a.get('step', '')))} | {weights} | {_cell(str(a.get('outcome', '')))} | "
            f"{_cell(_decisive(a))} |"
        )
    if len(analyses) > len(shown):
        lines.append(f"\nThe last {len(shown)} of {len(analyses)} analyses; the JSON report holds every one.")
    return "\n".join(lines)


def _decisive(analysis: dict) -> str:
    """'metric: canary X vs stable Y (classification)' for the metrics that decided one analysis."""
    merged: dict[str, dict] = {}  # one entry per metric across the judges
    verdicts = [v for judge in analysis.get("judges") or [] for v in judge.get("metrics") or []]
    verdicts.sort(key=lambda v: v.get("classification") == "pass")  # values from a deciding verdict first
    for verdict in verdicts:
        name = str(verdict.get("metric", "?"))
        details = verdict.get("details") or {}
        entry = merged.setdefault(name, {"classes": [], "canary": None, "stable": None, "distance": None})
        entry["classes"].append(str(verdict.get("classification", "")))
        if details.get("kind") == "distribution":  # a threshold on the canary-vs-stable KS distance
            entry["distance"] = _first(entry["distance"], verdict.get("value"))
            continue
        canary = _first(
            details.get("canary_value"),
            details.get("canary_mean"),
            None if details.get("kind") == "series" else verdict.get("value"),
        )
        stable = _first(details.get("stable_value"), details.get("stable_mean"), details.get("stable"))
        entry["canary"] = _first(entry["canary"], canary)
        entry["stable"] = _first(entry["stable"], stable)
    if not merged:
        return str(analysis.get("why", ""))[:200]
    failing = {k: v for k, v in merged.items() if any(c != "pass" for c in v["classes"])}
    chosen = failing or merged
    parts = []
    for name, entry in list(chosen.items())[:CANARY_METRICS]:
        kind = next((c for c in entry["classes"] if c != "pass"), "pass")
        if entry["canary"] is not None or entry["stable"] is not None:
            text = f"{name}: canary {number(entry['canary'])} vs stable {number(entry['stable'])}"
        elif entry["distance"] is not None:
            text = f"{name}: distance {number(entry['distance'])}"
        else:
            text = f"{name}: no value"
        parts.append(f"{text} ({kind})")
    if len(chosen) > CANARY_METRICS:
        parts.append(f"+{len(chosen) - CANARY_METRICS} more")
    return "; ".join(parts)


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _first(*values: object) -> float | None:
    return next((v for v in map(_numeric, values) if v is not None), None)


def write(results: list[GateResult], out: Output) -> list[Path]:
    summary = out.env_path("GITHUB_STEP_SUMMARY")
    budget = out.budget.summary_bytes
    if summary:
        try:
            already = summary.stat().st_size
        except OSError:
            already = 0
        budget = min(budget, GITHUB_SUMMARY_LIMIT - 4096 - already)
    text = render(
        results,
        links={"JSON": f"{out.name}.json", "JUnit": "junit.xml", "HTML": "report.html"},
        budget=max(budget - 1, 0),  # the newline that separates it from what follows
        note=report_only_note(out.verdict, out.fail_on),
        report=f"{out.name}.json",
    )
    path = out.report_dir / "summary.md"
    path.write_text(text, encoding="utf-8")
    if summary:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        out.budget.summary_bytes -= len(text.encode("utf-8")) + 1
    return [path]
