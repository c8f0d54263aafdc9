"""`mlgate bias`: the bias gate from flags and/or the policy's `bias` section."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import (
    bootstrap_options,
    bootstrap_overrides,
    compact,
    engine_option,
    execute,
    parse_pairs,
)
from gates.commands.locations import TABLE


def _path(value: Path | None) -> str | None:
    """Flag paths are relative to the working directory (policy paths to the policy's folder)."""
    return str(value.resolve()) if value else None


def _rules(pairs: dict[str, float], disparity: str, relative_to: str, bound: str) -> list[dict]:
    return [
        {"metric": metric, "disparity": disparity, "relative_to": relative_to, bound: value}
        for metric, value in pairs.items()
    ]


@click.command()
@click.option(
    "--predictions", type=TABLE, help="Predictions with the sensitive columns (a path or s3://...)."
)
@click.option("--label-column", help="Column with the true label (default 'label').")
@click.option("--score-column", help="Column with the positive-class probability (default 'score').")
@click.option(
    "--prediction-column", help="Column with the decision (default 'prediction'; else score >= 0.5)."
)
@click.option("--positive-label", help="The positive class (default: the larger label).")
@click.option(
    "--sensitive", multiple=True, help="Sensitive column, repeatable; several make intersection groups."
)
@click.option("--min-group-size", type=int, help="Smaller groups are reported, not judged (default 30).")
@click.option(
    "--missing-group", help="Name a group for rows whose sensitive value is missing (else an error)."
)
@click.option("--metric", "metrics", multiple=True, help="Per-group metric to show, repeatable.")
@click.option("--four-fifths", is_flag=True, default=None, help="Selection-rate ratio between groups >= 0.8.")
@click.option("--max-disparity", type=float, help="Per-group error-rate difference between groups <= VALUE.")
@click.option(
    "--max-difference",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Max difference between groups, repeatable (metric or demographic_parity, equal_opportunity, "
    "equalized_odds).",
)
@click.option(
    "--min-ratio", multiple=True, metavar="METRIC=VALUE", help="Min ratio between groups, repeatable."
)
@click.option(
    "--max-difference-to-overall",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Max gap of any group to the overall value, repeatable.",
)
@click.option(
    "--min-ratio-to-overall",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Min ratio of any group to the overall value, repeatable.",
)
@click.option("--no-plots", is_flag=True, help="Leave out the per-group bar charts.")
@click.option(
    "--streaming/--no-streaming",
    default=None,
    help="Read the predictions in chunks, for files larger than memory (default: auto by size).",
)
@engine_option
@bootstrap_options
def bias(
    predictions,
    label_column,
    score_column,
    prediction_column,
    positive_label,
    sensitive,
    min_group_size,
    missing_group,
    metrics,
    four_fifths,
    max_disparity,
    max_difference,
    min_ratio,
    max_difference_to_overall,
    min_ratio_to_overall,
    no_plots,
    streaming,
    engine,
    confidence,
    resamples,
    seed,
    decide_on,
) -> int:
    """Bias gate: per-group metrics (intersections of the sensitive columns) and disparity rules.

    Without a policy: mlgate bias --predictions preds.csv --label-column y --sensitive sex --four-fifths
    """
    rules = (
        _rules(parse_pairs(max_difference, "--max-difference"), "difference", "between_groups", "max")
        + _rules(parse_pairs(min_ratio, "--min-ratio"), "ratio", "between_groups", "min")
        + _rules(
            parse_pairs(max_difference_to_overall, "--max-difference-to-overall"),
            "difference",
            "to_overall",
            "max",
        )
        + _rules(parse_pairs(min_ratio_to_overall, "--min-ratio-to-overall"), "ratio", "to_overall", "min")
    )
    columns = compact({"label": label_column, "score": score_column, "prediction": prediction_column})
    label = int(positive_label) if positive_label and positive_label.lstrip("-").isdigit() else positive_label
    overrides = compact(
        {
            "predictions": _path(predictions),
            "columns": columns,
            "positive_label": label,
            "sensitive": list(sensitive),
            "min_group_size": min_group_size,
            "missing_group": missing_group,
            "metrics": list(metrics),
            "four_fifths": four_fifths,
            "max_disparity": max_disparity,
            "rules": rules,
            "plots": False if no_plots else None,
            "streaming": streaming,
            "engine": engine,
        }
    )
    overrides.update(bootstrap_overrides(confidence, resamples, seed, decide_on))
    return execute("bias", overrides)
