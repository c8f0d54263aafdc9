"""`mlgate report diff OLD.json NEW.json`: what changed between two runs, for people and for the PR comment.

    mlgate report diff main/mlgate.json pr/mlgate.json                    # text, for a terminal or a log
    mlgate report diff old.json new.json --format markdown >> "$GITHUB_STEP_SUMMARY"
    mlgate report diff old.json new.json --format json --output diff.json

Exit 0 whenever the two reports were compared (a difference is information, not a verdict: the gates decide);
exit 2, with one line naming the file and the problem, when either is not a readable mlgate JSON report.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def report() -> None:
    """Work with the JSON reports runs wrote (mlgate.json, <gate>.json)."""


@report.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "style",
    type=click.Choice(("text", "markdown", "json")),
    default="text",
    show_default=True,
    help="text for people, markdown for a pull-request comment or job summary, json for tools.",
)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Write to this file instead of standard output."
)
def diff(old: Path, new: Path, style: str, output: Path | None) -> int:
    """Compare two JSON reports: gate verdicts, check values and intervals, findings added or removed."""
    from gates.formats import comment
    from gates.formats import report_diff as rd

    changes = rd.compare(rd.load(old), rd.load(new), old, new)
    if style == "json":
        text = json.dumps(rd.to_json(changes), indent=2, allow_nan=False) + "\n"
    elif style == "markdown":
        text = comment.diff_markdown(changes)
    else:
        text = rd.to_text(changes)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    return 0
