"""`mlgate latency`: the latency gate on samples from a file."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import absolute, bootstrap_options, bootstrap_overrides, compact, execute


@click.command()
@click.option("--samples", type=click.Path(path_type=Path), help="Table with one latency per row.")
@click.option("--column", help="Column holding the latencies (default latency_ms).")
@click.option("--unit", type=click.Choice(["ms", "s"]))
@click.option("--max-p50", type=float)
@click.option("--max-p95", type=float)
@click.option("--max-p99", type=float)
@click.option("--max-mean", type=float)
@bootstrap_options
def latency(
    samples, column, unit, max_p50, max_p95, max_p99, max_mean, confidence, resamples, seed, decide_on
) -> int:
    """Latency gate: p50 / p95 / p99 / mean with bootstrap intervals against maximums."""
    overrides = compact(
        {
            "samples": absolute(samples),
            "column": column,
            "unit": unit,
            "max_p50": max_p50,
            "max_p95": max_p95,
            "max_p99": max_p99,
            "max_mean": max_mean,
        }
    )
    overrides.update(bootstrap_overrides(confidence, resamples, seed, decide_on))
    return execute("latency", overrides)
