"""Pieces every gate command shares: bootstrap flags, KEY=VALUE parsing, and running through the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from gates.core.errors import InputError


def bootstrap_options(command: Callable) -> Callable:
    """--confidence / --resamples / --seed / --decide-on, mapped onto the section's bootstrap settings."""
    options = [
        click.option("--confidence", type=float, help="Confidence level of the intervals (default 0.95)."),
        click.option(
            "--resamples", type=int, help="Bootstrap resamples (default 1000; 0 turns intervals off)."
        ),
        click.option("--seed", type=int, help="Random seed: same seed, same numbers (default 0)."),
        click.option(
            "--decide-on",
            type=click.Choice(["point", "bound"]),
            help="Whether the point value or the interval's bound must clear thresholds.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def engine_option(command: Callable) -> Callable:
    """--engine: where the statistics are computed (the section's `engine` key; gates.engine.choose)."""
    return click.option(
        "--engine",
        type=click.Choice(["local", "duckdb", "spark", "auto"]),
        help="Compute the statistics locally (pyarrow), with DuckDB (globs, folders, out of core) or on "
        "Spark; auto: DuckDB for globs, folders and files over engine.auto_bytes (default: engine.default).",
    )(command)


def bootstrap_overrides(
    confidence: float | None, resamples: int | None, seed: int | None, decide_on: str | None
) -> dict[str, Any]:
    boot = {
        k: v
        for k, v in {"confidence": confidence, "resamples": resamples, "seed": seed}.items()
        if v is not None
    }
    out: dict[str, Any] = {"bootstrap": boot} if boot else {}
    if decide_on:
        out["decide_on"] = decide_on
    return out


def parse_pairs(
    values: tuple[str, ...], option: str, convert: Callable[[str], Any] = float
) -> dict[str, Any]:
    """Turn ('roc_auc=0.8', ...) into {'roc_auc': 0.8}; a malformed pair names the option and the value."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key or not raw:
            raise InputError(f"{option} {item!r}: expected NAME=VALUE")
        try:
            out[key.strip()] = convert(raw.strip())
        except ValueError:
            raise InputError(f"{option} {item!r}: {raw!r} is not a number") from None
    return out


def absolute(path: object) -> str | None:
    """Paths given as flags are relative to the working directory, not to the policy file."""
    if path is None:
        return None
    from gates.readers.objectstore import is_uri

    if is_uri(str(path)):  # s3://bucket/key as typed (gates.commands.locations)
        return str(path)
    from pathlib import Path

    return str(Path(str(path)).expanduser().absolute())


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop flags that were not given, so they do not override the policy."""
    return {k: v for k, v in values.items() if v not in (None, (), [], {})}


def execute(gate: str, overrides: dict[str, Any]) -> int:
    session = click.get_current_context().obj
    if session.policy.section(gate) is None and not overrides:
        raise InputError(f"{session.policy.source}: no '{gate}' section, and no inputs given as flags")
    return session.run_gates([(gate, overrides)])
