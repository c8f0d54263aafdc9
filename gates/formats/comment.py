"""The pull-request comment: one Markdown body per workflow, rendered from the JSON reports gates wrote.

The body starts with a hidden marker, ``<!-- mlgate-comment workflow=NAME -->``, so the next run finds and
updates the same comment instead of adding one per push. Then the verdict table (worst gate first: gate, status,
failed checks, key values), the failed checks' reasons, and a link to the run. It stays under GitHub's limit of
65,536 characters per comment: rows that do not fit become "and N more".

Reports are the files gates/formats/json_report.py writes: ``mlgate.json`` (every gate of a run) and
``<gate>.json`` (one gate each), both with ``tool.name == "mlgate"``. A folder is searched recursively; the same
gate found in several files of one folder (the run file and its own file) is shown once, the newest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gates.core.errors import InputError
from gates.core.result import Status, worst
from gates.formats.report_diff import ReportDiff, describe_value, finding_text
from gates.formats.text import ICON, number

GITHUB_COMMENT_LIMIT = 65_536  # characters GitHub accepts in an issue comment body
BUDGET = GITHUB_COMMENT_LIMIT - 1_536  # room for the closing lines and for counting differences
FAILED_SHOWN = 5  # failed checks named per row
VALUES_SHOWN = 4  # summary values per row
REASONS_SHOWN = 50  # failed checks whose reason is spelled out below the table
REASONS_ROOM = 12_000  # characters kept for those reasons when the table alone would fill the comment


@dataclass
class GateRow:
    """One gate of one report, as the comment shows it."""

    gate: str
    status: Status
    checks: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    source: Path = Path(".")
    created: str = ""
    label: str = ""  # the gate's name, qualified by its folder when two folders hold the same gate
    document: dict[str, Any] = field(default_factory=dict)  # the gate as the report holds it (for a diff)

    def __post_init__(self) -> None:
        self.label = self.label or self.gate

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c.get("status") in ("fail", "error")]


# -- reading ------------------------------------------------------------------------------------------------------


def marker(workflow: str) -> str:
    """The hidden first line. The name is percent-encoded where it could end or break an HTML comment."""
    name = workflow.strip()
    if not name:
        raise InputError(
            "--workflow: give the workflow's name (it tells this workflow's comment from others)"
        )
    encoded = quote(name, safe=" /()[]:@,+=&'\"").replace("--", "-%2D")
    return f"<!-- mlgate-comment workflow={encoded} -->"


def read_reports(paths: list[Path]) -> list[GateRow]:
    """Every gate in the reports at ``paths`` (files, or folders searched recursively), one row per gate and
    folder. A file given by name must be an mlgate report; in a folder, other JSON files are skipped."""
    found: dict[tuple[Path, str], GateRow] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
            for file in files:
                for row in _read(file, strict=False):
                    _keep(found, row)
        elif path.is_file():
            for row in _read(path, strict=True):
                _keep(found, row)
        else:
            raise InputError(f"--reports {path}: no such file or folder")
    rows = list(found.values())
    _label(rows, paths)
    rows.sort(key=lambda r: (-r.status.severity, r.label))
    return rows


def _read(path: Path, strict: bool) -> list[GateRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if strict:
            raise InputError(f"--reports {path}: not a readable JSON file ({type(exc).__name__})") from None
        return []
    if not _is_report(data):
        if strict:
            raise InputError(f"--reports {path}: not an mlgate JSON report (no tool.name 'mlgate' and gates)")
        return []
    major = str(data.get("schema_version", "1")).split(".")[0]
    if major != "1":
        raise InputError(
            f"--reports {path}: report schema version {data.get('schema_version')} is newer than this mlgate "
            "reads (1.x)"
        )
    rows = []
    for gate in data["gates"]:
        if not isinstance(gate, dict) or not isinstance(gate.get("gate"), str):
            raise InputError(f"--reports {path}: a gate without a name")
        try:
            status = Status(gate.get("status"))
        except ValueError:
            raise InputError(
                f"--reports {path}: gate {gate['gate']!r} has status {gate.get('status')!r}"
            ) from None
        checks = [c for c in gate.get("checks") or [] if isinstance(c, dict)]
        summary = gate.get("summary")
        rows.append(
            GateRow(
                gate=gate["gate"],
                status=status,
                checks=checks,
                summary=summary if isinstance(summary, dict) else {},
                source=path,
                created=str(data.get("created") or ""),
                document=gate,
            )
        )
    return rows


def _is_report(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("tool"), dict)
        and data["tool"].get("name") == "mlgate"
        and isinstance(data.get("gates"), list)
    )


def _keep(found: dict[tuple[Path, str], GateRow], row: GateRow) -> None:
    key = (row.source.parent.resolve(), row.gate)
    if key not in found or row.created > found[key].created:
        found[key] = row


def _label(rows: list[GateRow], roots: list[Path]) -> None:
    names: dict[str, int] = {}
    for row in rows:
        names[row.gate] = names.get(row.gate, 0) + 1
    for row in rows:
        row.label = row.gate
        if names[row.gate] > 1:
            row.label = f"{row.gate} ({_where(row.source.parent, roots)})"


def _where(folder: Path, roots: list[Path]) -> str:
    for root in roots:
        base = root if root.is_dir() else root.parent
        try:
            relative = folder.resolve().relative_to(base.resolve())
        except ValueError:
            continue
        return str(relative) if str(relative) != "." else base.name or "."
    return folder.name or str(folder)


# -- rendering ----------------------------------------------------------------------------------------------------


def cell(text: object, limit: int = 300) -> str:
    """Table-cell safe: no pipes or newlines breaking the row, no HTML tag or comment (so no second marker),
    bounded."""
    value = str(text).replace("\r", " ").replace("\n", " ").strip()
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("<", "&lt;").replace("|", "\\|")


def size(text: str) -> int:
    """Length as GitHub may count it (UTF-16 code units), never less than the number of code points."""
    return len(text.encode("utf-16-le")) // 2


def _failed_cell(row: GateRow) -> str:
    failed = row.failed
    if not failed:
        return "–"
    parts = []
    for check in failed[:FAILED_SHOWN]:
        text = str(check.get("name", "?"))
        value = check.get("value")
        if value is not None:
            text += f" = {number(value)}"
        ci = check.get("ci")
        if isinstance(ci, list) and len(ci) == 2 and any(v is not None for v in ci):
            text += f" [{number(ci[0])}, {number(ci[1])}]"
        if check.get("threshold"):
            text += f" (needs {check['threshold']})"
        parts.append(cell(text, 120))
    if len(failed) > FAILED_SHOWN:
        parts.append(f"+{len(failed) - FAILED_SHOWN} more")
    return "; ".join(parts)


def _values_cell(row: GateRow) -> str:
    pairs = [(k, v) for k, v in row.summary.items() if isinstance(v, (int, float, str, bool)) or v is None]
    if not pairs:
        return "–"
    shown = [cell(f"{k}={number(v)}", 80) for k, v in pairs[:VALUES_SHOWN]]
    if len(pairs) > VALUES_SHOWN:
        shown.append(f"+{len(pairs) - VALUES_SHOWN} more")
    return ", ".join(shown)


def render(
    rows: list[GateRow],
    workflow: str,
    *,
    run_url: str | None = None,
    sha: str | None = None,
    problem: str | None = None,
    changes: str | None = None,
    limit: int = BUDGET,
) -> str:
    """The comment body. ``problem`` replaces the table when there is nothing to show (no reports), so an
    older comment's verdict never stays up looking current. ``changes`` (Markdown: diff_markdown, or a note
    why there is no diff) goes under the verdict table, before the reasons, when it fits."""
    overall = worst([r.status for r in rows]) if rows else Status.ERROR
    head = [marker(workflow), f"## {ICON[overall]} mlgate: {overall.value} · {cell(workflow, 100)}", ""]
    context = []
    if sha:
        context.append(f"commit `{cell(sha[:12], 12)}`")
    if run_url:
        context.append(f"[workflow run]({run_url})")
    if context:
        head += [" · ".join(context), ""]
    tail = [
        "",
        "<sub>Every check with its interval and evidence: the run's job summary and report artifacts.</sub>",
    ]
    if problem or not rows:
        text = problem or "no mlgate reports were found"
        return "\n".join([*head, f"⛔ {cell(text, 1000)}", *tail]) + "\n"

    counts = {s: sum(1 for r in rows if r.status is s) for s in Status}
    head.append(
        f"{len(rows)} gate{'s' if len(rows) != 1 else ''}: "
        + ", ".join(f"{counts[s]} {s.value}" for s in sorted(Status, key=lambda s: -s.severity) if counts[s])
    )
    head += ["", "| gate | status | failed checks | key values |", "|---|---|---|---|"]

    closing = "\n".join(tail) + "\n"
    used = size("\n".join(head)) + size(closing) + 200  # 200: the "and N more" lines
    reserve = REASONS_ROOM if any(r.failed for r in rows) else 0  # the reasons keep some room
    table: list[str] = []
    for index, row in enumerate(rows):
        line = (
            f"| {cell(row.label, 120)} | {ICON[row.status]} {row.status.value} | {_failed_cell(row)} | "
            f"{_values_cell(row)} |"
        )
        if used + size(line) + 1 > limit - reserve:
            table.append(f"\nand {len(rows) - index} more gates (not shown: the comment size limit)")
            used += size(table[-1]) + 1
            break
        table.append(line)
        used += size(line) + 1

    changed: list[str] = []
    if changes and used + size(changes) + 2 <= limit - reserve:
        changed = ["", changes.rstrip("\n")]
    elif changes:
        changed = ["", "Changes since the previous run: too long for the comment (run `mlgate report diff`)."]
    used += size("\n".join(changed)) + 1
    reasons = _reasons(rows, limit - used)
    return "\n".join([*head, *table, *changed, *reasons, *tail]) + "\n"


def current_report(rows: list[GateRow]) -> dict[str, Any]:
    """The gates the comment shows, as one report document for gates.formats.report_diff.compare (each gate
    named by its label, so two folders holding the same gate stay two gates)."""
    return {
        "created": max((r.created for r in rows), default=""),
        "status": worst([r.status for r in rows]).value if rows else Status.ERROR.value,
        "gates": [{**r.document, "gate": r.label} for r in rows],
    }


def _reasons(rows: list[GateRow], room: int) -> list[str]:
    """Why each failed check failed, inside a folded section, within ``room`` characters."""
    failed = [(row, check) for row in rows for check in row.failed]
    if not failed:
        return []
    opening = ["", "<details><summary>Why checks failed</summary>", ""]
    closing = ["", "</details>"]
    used = size("\n".join(opening + closing)) + 100
    lines: list[str] = []
    for index, (row, check) in enumerate(failed):
        line = (
            f"- **{cell(row.label, 120)}** · {cell(check.get('name', '?'), 120)} "
            f"({check.get('status')}): {cell(check.get('why', ''), 500)}"
        )
        if index >= REASONS_SHOWN or used + size(line) + 1 > room:
            lines.append(f"- and {len(failed) - index} more failed checks")
            break
        lines.append(line)
        used += size(line) + 1
    if room < used:
        return []
    return [*opening, *lines, *closing]


# -- what changed since another run ------------------------------------------------------------------------------

DIFF_ROWS = 60  # changed checks listed in the diff table; the JSON diff holds every one
DIFF_FINDINGS = 30  # findings listed per direction


def diff_markdown(diff: ReportDiff, limit: int = 20_000) -> str:
    """The changes between two runs (gates.formats.report_diff) for a pull-request comment or a job summary:
    the verdict change and a table of changed gates first, then changed checks, then findings in <details>.
    At most ``limit`` characters (GitHub counts UTF-16 code units): what does not fit is counted."""
    counts = diff.counts()
    arrow = "(worse)" if diff.worse else ""
    old_status, new_status = Status(diff.old["status"]), Status(diff.new["status"])
    lines = [
        f"### Changes since the previous run: {ICON[old_status]} {old_status.value} → "
        f"{ICON[new_status]} {new_status.value} {arrow}".rstrip(),
        "",
    ]
    if not diff.changed:
        return "\n".join([*lines, "No differences in verdicts, checks or findings."]) + "\n"
    lines += ["| gate | status | checks changed | findings |", "|---|---|---|---|"]
    for g in diff.changed:
        before = f"{ICON[Status(g.old_status)]} {g.old_status}" if g.old_status else "(absent)"
        after = f"{ICON[Status(g.new_status)]} {g.new_status}" if g.new_status else "(absent)"
        findings = f"+{len(g.findings_added)} / −{len(g.findings_removed)}"
        lines.append(f"| {cell(g.gate, 120)} | {before} → {after} | {len(g.checks)} | {findings} |")
    changed = [c for g in diff.gates for c in g.checks]
    closing = [
        "",
        f"<sub>{counts['findings_added']} findings added, {counts['findings_removed']} removed.</sub>",
    ]
    if changed:
        lines += ["", "<details><summary>Changed checks</summary>", ""]
        lines += ["| gate | check | change | before | after | Δ value |", "|---|---|---|---|---|---|"]
        for index, c in enumerate(changed):
            delta = number(c.delta) if c.delta is not None and "value" in c.fields() else ""
            row = (
                f"| {cell(c.gate, 80)} | {cell(c.name, 120)} | {c.change}: {', '.join(c.fields())} | "
                f"{cell(describe_value(c.old), 120)} | {cell(describe_value(c.new), 120)} | {delta} |"
            )
            if index >= DIFF_ROWS or size("\n".join(lines)) + size(row) > limit // 2:
                lines.append(f"\nand {len(changed) - index} more changed checks (see the JSON diff)")
                break
            lines.append(row)
        lines += ["", "</details>"]
    for title, attribute in (("Findings added", "findings_added"), ("Findings removed", "findings_removed")):
        found = [(g.gate, f) for g in diff.gates for f in getattr(g, attribute)]
        if not found:
            continue
        block = ["", f"<details><summary>{title} ({len(found)})</summary>", ""]
        for index, (gate, finding) in enumerate(found):
            item = f"- **{cell(gate, 80)}** {cell(finding_text(finding), 300)}"
            if index >= DIFF_FINDINGS or size("\n".join(lines + block)) + size(item) > limit - 400:
                block.append(f"- and {len(found) - index} more")
                break
            block.append(item)
        lines += [*block, "", "</details>"]
    return "\n".join(lines + closing) + "\n"
