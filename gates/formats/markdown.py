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
            lines.append(
                f"| {_cell(c.name)} | {ICON[c.status]} {c.status.value} | {number(c.value)} | "
                f"{interval(c)} | {_cell(c.threshold or '')} | {_cell(c.why)} |"
            )
        analyses = canary_table(r)
        if analyses:
            lines += ["", analyses]
        for title, table in r.evidence.get("tables", {}).items():
            lines += ["", f"<details><summary>{title}</summary>", "", table, "", "</details>"]
        pictures = [(k, v) for k, v in r.artifacts.items() if v.endswith(".png")]
        if pictures:
            lines += [
                "",
                "Pictures (PNG files in the report folder, i.e. the uploaded report artifact; "
                "`report.html` embeds them): "
                + ", ".join(f"[{_cell(k)}]({Path(v).name})" for k, v in pictures),
            ]
    if links:
        lines += ["", "Reports: " + ", ".join(f"{name}: `{path}`" for name, path in links.items())]
    return "\n".join(lines) + "\n"


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
    text = render(results, links={"JSON": f"{out.name}.json", "JUnit": "junit.xml", "HTML": "report.html"})
    path = out.report_dir / "summary.md"
    path.write_text(text, encoding="utf-8")
    summary = out.env_path("GITHUB_STEP_SUMMARY")
    if summary:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return [path]
