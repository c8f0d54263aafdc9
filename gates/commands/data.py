"""`mlgate data`: the data-validation gate from flags and/or the policy's `data` section."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import bootstrap_options, bootstrap_overrides, compact, execute


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
@click.option(
    "--suite",
    "suites",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A Great Expectations suite (JSON) or pandera schema (YAML/JSON) to run too; repeatable.",
)
@click.option(
    "--unsupported",
    type=click.Choice(["warn", "error"]),
    help="Suite rules the gate cannot run: listed with a warning (default) or an error.",
)
@click.option("--as-of", help="The clock for freshness checks (ISO date-time; default now).")
@click.option("--sensitive", multiple=True, help="A column whose values never appear in reports; repeatable.")
@bootstrap_options
def data(
    table,
    schema,
    infer_from,
    save_schema,
    min_rows,
    max_rows,
    extra_columns,
    suites,
    unsupported,
    as_of,
    sensitive,
    confidence,
    resamples,
    seed,
    decide_on,
) -> int:
    """Data-validation gate: columns, types, nulls, ranges, values, patterns, freshness, statistics with
    intervals, relations between columns, and Great Expectations / pandera suites.

    mlgate data --table current.parquet --schema schema.yml --infer-from reference.parquet

    mlgate data --table current.parquet --suite expectations.json --suite pandera.yml
    """
    overrides = compact(
        {
            "table": _path(table),
            "schema": _path(schema),
            "infer_from": _path(infer_from),
            "save_schema": _path(save_schema),
            "rows": compact({"min": min_rows, "max": max_rows}),
            "extra_columns": extra_columns,
            "suite": [_path(s) for s in suites],
            "unsupported": unsupported,
            "as_of": as_of,
            "sensitive": list(sensitive),
            **bootstrap_overrides(confidence, resamples, seed, decide_on),
        }
    )
    return execute("data", overrides)
