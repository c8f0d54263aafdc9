"""`mlgate data`: the data-validation gate from flags and/or the policy's `data` section."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import compact, execute


def _path(value: Path | None) -> str | None:
    return str(value.resolve()) if value else None


@click.command()
@click.option("--table", type=click.Path(path_type=Path), help="The table to validate (csv, parquet, jsonl).")
@click.option(
    "--schema",
    type=click.Path(path_type=Path),
    help="Schema file (YAML or JSON). With --infer-from and no such file, the inferred one is saved here.",
)
@click.option(
    "--infer-from", type=click.Path(path_type=Path), help="Infer the schema from this reference table."
)
@click.option("--save-schema", type=click.Path(path_type=Path), help="Where to save the inferred schema.")
@click.option("--min-rows", type=int, help="Fewest rows allowed.")
@click.option("--max-rows", type=int, help="Most rows allowed.")
@click.option(
    "--extra-columns",
    type=click.Choice(["allow", "warn", "fail"]),
    help="Columns not in the schema: allowed, a warning (default) or a failure.",
)
def data(table, schema, infer_from, save_schema, min_rows, max_rows, extra_columns) -> int:
    """Data-validation gate: columns, types, nulls, ranges, allowed values, unique ids, row counts.

    mlgate data --table current.parquet --schema schema.yml --infer-from reference.parquet
    """
    overrides = compact(
        {
            "table": _path(table),
            "schema": _path(schema),
            "infer_from": _path(infer_from),
            "save_schema": _path(save_schema),
            "rows": compact({"min": min_rows, "max": max_rows}),
            "extra_columns": extra_columns,
        }
    )
    return execute("data", overrides)
