"""`mlgate metrics`: the model-metrics gate from flags and/or the policy's `metrics` section."""

from __future__ import annotations

import click

from gates.commands.common import (
    absolute,
    bootstrap_options,
    bootstrap_overrides,
    compact,
    engine_option,
    execute,
    parse_pairs,
)
from gates.commands.locations import TABLE
from gates.core.errors import InputError


def parse_margin(text: str) -> dict[str, float]:
    """'0.01' is an absolute margin; '2%' a relative one."""
    if text.endswith("%"):
        return {"relative": float(text[:-1]) / 100}
    return {"absolute": float(text)}


@click.command()
@click.option("--predictions", type=TABLE, help="Candidate predictions (csv, parquet, jsonl; or s3://...).")
@click.option("--task", type=click.Choice(["binary", "multiclass", "regression"]))
@click.option("--label-column", help="Column with the true label (default 'label').")
@click.option("--score-column", help="Binary: column with the positive-class probability (default 'score').")
@click.option("--prediction-column", help="Column with the predicted label or value (default 'prediction').")
@click.option("--id-column", help="Id column, used to join the baseline.")
@click.option(
    "--scores-column",
    "scores_columns",
    multiple=True,
    metavar="COLUMN | CLASS=COLUMN",
    help="Multiclass: a class-probability column, repeatable: one per class, in the order of the "
    "classes, or CLASS=COLUMN in any order (policy columns.scores).",
)
@click.option(
    "--classes",
    "classes",
    multiple=True,
    metavar="CLASS",
    help="Declared class, repeatable, in order; a label outside them is an error (policy classes).",
)
@click.option(
    "--decision-threshold",
    type=float,
    help="Binary without a prediction column: score >= this is positive (default 0.5).",
)
@click.option("--positive-label", help="Binary: the positive class (default: the larger label).")
@click.option("--min", "minimums", multiple=True, metavar="METRIC=VALUE", help="Lower threshold, repeatable.")
@click.option("--max", "maximums", multiple=True, metavar="METRIC=VALUE", help="Upper threshold, repeatable.")
@click.option(
    "--baseline",
    type=TABLE,
    help="Production model's predictions on the same rows (a file, or one s3:// object).",
)
@click.option(
    "--margin",
    "margins",
    multiple=True,
    metavar="METRIC=VALUE[%]",
    help="Non-inferiority margin against the baseline: absolute, or relative with %.",
)
@click.option(
    "--streaming/--no-streaming",
    default=None,
    help="Read binary predictions in chunks, for files larger than memory (default: auto by size).",
)
@engine_option
@bootstrap_options
def metrics(
    predictions,
    task,
    label_column,
    score_column,
    prediction_column,
    id_column,
    scores_columns,
    classes,
    decision_threshold,
    positive_label,
    minimums,
    maximums,
    baseline,
    margins,
    streaming,
    engine,
    confidence,
    resamples,
    seed,
    decide_on,
) -> int:
    """Model-metrics gate: thresholds with bootstrap intervals, and a paired comparison with the baseline."""
    thresholds: dict = {}
    for name, value in parse_pairs(minimums, "--min").items():
        thresholds.setdefault(name, {})["min"] = value
    for name, value in parse_pairs(maximums, "--max").items():
        thresholds.setdefault(name, {})["max"] = value
    declared = [_label(c) for c in classes]
    scores, declared = _scores(scores_columns, declared)
    columns = compact(
        {
            "label": label_column,
            "score": score_column,
            "prediction": prediction_column,
            "id": id_column,
            "scores": scores,
        }
    )
    overrides = compact(
        {
            "predictions": absolute(predictions),
            "task": task,
            "columns": columns,
            "thresholds": thresholds,
            "classes": declared,
            "decision_threshold": decision_threshold,
            "positive_label": _label(positive_label),
            "streaming": streaming,
            "engine": engine,
        }
    )
    if baseline or margins:
        overrides["baseline"] = compact(
            {"predictions": absolute(baseline), "margins": parse_pairs(margins, "--margin", parse_margin)}
        )
    overrides.update(bootstrap_overrides(confidence, resamples, seed, decide_on))
    return execute("metrics", overrides)


def _label(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _scores(values: tuple[str, ...], classes: list) -> tuple[list[str], list]:
    """--scores-column as the policy's columns.scores: a list of columns in the order of the classes.

    Plain COLUMN values are that list as given. CLASS=COLUMN pairs are put in the order of the declared
    classes (--classes, else the policy's metrics.classes); with no classes declared anywhere, the pairs'
    order declares them, so the column of each class is never guessed from its position.
    """
    if not values:
        return [], classes
    pairs = [v.partition("=") for v in values]
    named = [sep == "=" for _, sep, _ in pairs]
    if not any(named):
        return list(values), classes
    if not all(named) or any(not key.strip() or not column.strip() for key, _, column in pairs):
        raise InputError(
            f"--scores-column {' '.join(values)!r}: give every column as CLASS=COLUMN, or every "
            f"one as a plain COLUMN in the order of the classes, not a mix"
        )
    by_class: dict[str, str] = {}
    for key, _, column in pairs:
        if key.strip() in by_class:
            raise InputError(f"--scores-column: class {key.strip()!r} is given twice")
        by_class[key.strip()] = column.strip()
    if not classes:
        section = click.get_current_context().obj.policy.section("metrics") or {}
        order = list(section.get("classes") or [])
        source = "the policy's metrics.classes"
    else:
        order, source = classes, "--classes"
    if not order:
        return list(by_class.values()), [_label(c) for c in by_class]
    names = [str(c) for c in order]
    if set(names) != set(by_class):
        raise InputError(
            f"--scores-column names classes {', '.join(by_class)}, but {source} declares "
            f"{', '.join(names)}: give one column per declared class"
        )
    return [by_class[name] for name in names], classes
