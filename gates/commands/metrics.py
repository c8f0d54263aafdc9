"""`mlgate metrics`: the model-metrics gate from flags and/or the policy's `metrics` section."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import (
    absolute,
    bootstrap_options,
    bootstrap_overrides,
    compact,
    execute,
    parse_pairs,
)


def _margin(text: str) -> dict[str, float]:
    """'0.01' is an absolute margin; '2%' a relative one."""
    if text.endswith("%"):
        return {"relative": float(text[:-1]) / 100}
    return {"absolute": float(text)}


@click.command()
@click.option("--predictions", type=click.Path(path_type=Path), help="Candidate predictions (csv, parquet, jsonl).")
@click.option("--task", type=click.Choice(["binary", "multiclass", "regression"]))
@click.option("--label-column", help="Column with the true label (default 'label').")
@click.option("--score-column", help="Binary: column with the positive-class probability (default 'score').")
@click.option("--prediction-column", help="Column with the predicted label or value (default 'prediction').")
@click.option("--id-column", help="Id column, used to join the baseline.")
@click.option("--positive-label", help="Binary: the positive class (default: the larger label).")
@click.option("--min", "minimums", multiple=True, metavar="METRIC=VALUE", help="Lower threshold, repeatable.")
@click.option("--max", "maximums", multiple=True, metavar="METRIC=VALUE", help="Upper threshold, repeatable.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Production model's predictions on the same rows.")
@click.option("--margin", "margins", multiple=True, metavar="METRIC=VALUE[%]",
              help="Non-inferiority margin against the baseline: absolute, or relative with %.")
@click.option("--streaming/--no-streaming", default=None,
              help="Read binary predictions in chunks, for files larger than memory (default: auto by size).")
@bootstrap_options
def metrics(predictions, task, label_column, score_column, prediction_column, id_column, positive_label,
            minimums, maximums, baseline, margins, streaming, confidence, resamples, seed, decide_on) -> int:
    """Model-metrics gate: thresholds with bootstrap intervals, and a paired comparison with the baseline."""
    thresholds: dict = {}
    for name, value in parse_pairs(minimums, "--min").items():
        thresholds.setdefault(name, {})["min"] = value
    for name, value in parse_pairs(maximums, "--max").items():
        thresholds.setdefault(name, {})["max"] = value
    columns = compact({"label": label_column, "score": score_column, "prediction": prediction_column,
                       "id": id_column})
    overrides = compact({"predictions": absolute(predictions), "task": task,
                         "columns": columns, "thresholds": thresholds,
                         "positive_label": _label(positive_label), "streaming": streaming})
    if baseline or margins:
        overrides["baseline"] = compact({"predictions": absolute(baseline),
                                         "margins": parse_pairs(margins, "--margin", _margin)})
    overrides.update(bootstrap_overrides(confidence, resamples, seed, decide_on))
    return execute("metrics", overrides)


def _label(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text
