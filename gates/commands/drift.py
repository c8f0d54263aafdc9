"""`mlgate drift`: the drift gate, and `mlgate drift profile` to store the reference statistics once.

    mlgate drift --reference ref.parquet --current cur.parquet      # judge (same as `mlgate drift check ...`)
    mlgate drift profile --reference ref.parquet --out ref.json     # summarise the reference once
    mlgate drift --reference ref.json --current cur.parquet         # later runs: the profile, no raw reference

`drift` is a group that runs the check when no subcommand is given, so the common case stays one word.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gates.commands.common import compact, engine_option, execute, parse_pairs
from gates.commands.locations import TABLE
from gates.core.errors import InputError


def _path(value: Path | None) -> str | None:
    return str(value.resolve()) if value else None


def check_options(command: Callable) -> Callable:
    options = [
        click.option(
            "--reference",
            type=TABLE,
            help="Reference table, or a profile written by `mlgate drift profile` (.json).",
        ),
        click.option(
            "--current", type=click.Path(path_type=Path), help="Current data (csv, parquet, jsonl)."
        ),
        click.option(
            "--column", "columns", multiple=True, help="Column to check, repeatable (default: all)."
        ),
        click.option("--exclude", multiple=True, help="Column to leave out, repeatable."),
        click.option(
            "--share", type=float, help="Data set drift when this share of columns drifts (default 0.5)."
        ),
        click.option(
            "--alpha", type=float, help="Significance level per column, after the correction (default 0.05)."
        ),
        click.option(
            "--correction",
            type=click.Choice(["bh", "holm", "none"]),
            help="Multiple-testing correction across columns (default bh: Benjamini-Hochberg).",
        ),
        click.option(
            "--distance",
            "distances",
            multiple=True,
            metavar="COLUMN=DISTANCE",
            help="Distance for one column: wasserstein, psi, jensenshannon (numeric); tvd, psi, jensenshannon.",
        ),
        click.option(
            "--tolerance",
            "tolerances",
            multiple=True,
            metavar="DISTANCE=VALUE",
            help="Tolerance of a distance, repeatable (e.g. wasserstein=0.2): smaller changes never drift.",
        ),
        click.option("--critical", multiple=True, help="Column whose drift fails the gate, repeatable."),
        click.option(
            "--output-column",
            "output_columns",
            multiple=True,
            help="Model output column (score, prediction) judged on its own; drift fails the gate.",
        ),
        click.option(
            "--min-rows", type=int, help="Fewer values than this on a side: not judged (default 30)."
        ),
        click.option(
            "--save-profile", type=click.Path(path_type=Path), help="Also store the reference profile."
        ),
        click.option("--no-plots", is_flag=True, help="Do not draw histograms of drifted columns."),
    ]
    for option in reversed(options):
        command = option(command)
    return engine_option(command)


def check_overrides(
    reference,
    current,
    columns,
    exclude,
    share,
    alpha,
    correction,
    distances,
    tolerances,
    critical,
    output_columns,
    min_rows,
    save_profile,
    no_plots,
    engine,
) -> dict[str, Any]:
    per_column: dict[str, dict[str, Any]] = {}
    for name, distance in parse_pairs(distances, "--distance", str).items():
        per_column.setdefault(name, {})["distance"] = distance
    for name in critical:
        per_column.setdefault(name, {})["critical"] = True
    return compact(
        {
            "reference": _path(reference),
            "current": _path(current),
            "columns": list(columns),
            "exclude": list(exclude),
            "share": share,
            "alpha": alpha,
            "correction": correction,
            "tolerances": parse_pairs(tolerances, "--tolerance"),
            "per_column": per_column,
            "outputs": {"columns": list(output_columns)} if output_columns else None,
            "min_rows": min_rows,
            "save_profile": _path(save_profile),
            "plots": False if no_plots else None,
            "engine": engine,
        }
    )


@click.group(invoke_without_command=True)
@check_options
@click.pass_context
def drift(ctx: click.Context, **options: Any) -> int | None:
    """Drift gate: current data against a reference (table or stored profile), per column and overall.

    Without a subcommand it runs the check; `profile` stores the reference statistics once.
    """
    if ctx.invoked_subcommand is not None:
        if any(v not in (None, (), False) for v in options.values()):
            raise InputError(
                "mlgate drift: put options after the subcommand (mlgate drift profile --reference ...)"
            )
        return None
    return execute("drift", check_overrides(**options))


@drift.command("check")
@check_options
def check(**options: Any) -> int:
    """Judge drift (the default when no subcommand is given)."""
    return execute("drift", check_overrides(**options))


@drift.command("profile")
@click.option("--reference", type=TABLE, help="Reference table, a path or s3://... (default: the policy's).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Profile file to write (.json; default: the policy's drift.profile).",
)
@click.option("--column", "columns", multiple=True, help="Column to profile, repeatable (default: all).")
@click.option("--exclude", multiple=True, help="Column to leave out, repeatable.")
@click.option("--quantiles", type=int, help="Quantile steps for numeric columns (default 1000).")
@click.option("--bins", type=int, help="Bins for PSI / Jensen-Shannon on numbers (default 10).")
@engine_option
def profile(reference, out, columns, exclude, quantiles, bins, engine) -> int:
    """Compute the reference statistics once and save them; later checks use the profile, not the data."""
    from gates.commands.session import deep_merge
    from gates.drift import write_profile

    session = click.get_current_context().obj
    policy = session.policy
    section = policy.section("drift") or {}
    overrides = compact(
        {
            "columns": list(columns),
            "exclude": list(exclude),
            "profile_settings": compact({"quantiles": quantiles, "bins": bins}),
            "engine": engine,
        }
    )
    merged = deep_merge(section, overrides)

    def path_of(flag: Path | None, key: str, option: str) -> Path:
        """The flag's path, else the policy's (relative to the policy file)."""
        if flag:
            return flag.resolve()
        if section.get(key):
            return policy.base_dir / section[key]
        raise InputError(f"mlgate drift profile: give {option} (or drift.{key} in the policy)")

    ref_path = path_of(reference, "reference", "--reference")
    target = path_of(out, "profile", "--out")
    if target.suffix.lower() != ".json":
        raise InputError(f"{target}: a profile is a .json file")
    if ref_path.suffix.lower() == ".json":
        raise InputError(f"{ref_path}: is already a profile; profile the reference table itself")
    written = write_profile(merged, ref_path, target, policy.data.get("engine"))
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(written["kinds"].items()))
    click.echo(
        f"mlgate: wrote {written['path']}: {written['columns']} columns ({kinds}) of {written['rows']} "
        f"reference rows, {written['bytes']} bytes"
    )
    return 0
