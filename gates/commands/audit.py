"""`mlgate audit verify`: check that the audit trail was not edited, cut or reordered."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit trail."""


@audit.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--expect-head", help="The hash the last record must have (kept elsewhere, e.g. a step output)."
)
def verify(file: Path, expect_head: str | None) -> int:
    """Verify FILE; exit 0 when intact, 1 when tampered, naming each broken record."""
    from gates.core.audit import verify as check

    result = check(file, expect_head)
    for problem in result.problems:
        click.echo(f"{file}: {problem}", err=True)
    if result.ok:
        click.echo(f"{file}: {result.records} records, chain intact, head {result.head}")
        return 0
    click.echo(f"{file}: TAMPERED ({len(result.problems)} problem{'s' if len(result.problems) > 1 else ''})")
    return 1
