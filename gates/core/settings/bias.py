"""Settings of the bias gate (`bias:`): sensitive features, per-group metrics and disparity rules."""

# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import DecideOn, DecidingSection, Label, Name, Settings, UniqueItems
from gates.core.settings.metrics import Predictions

GroupMetric = Literal[
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "true_negative_rate",
    "tpr",
    "fpr",
    "fnr",
    "tnr",
    "accuracy",
    "error_rate",
    "precision",
    "balanced_accuracy",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
]
Criterion = Literal["demographic_parity", "equal_opportunity", "equalized_odds"]
NonEmpty = Field(min_length=1)


class Rule(Settings):
    """A disparity rule: how far apart the groups' values of one metric may be."""

    metric: Annotated[
        GroupMetric | Criterion,
        Field(
            description="A per-group metric, or demographic_parity (selection rate), equal_opportunity (true "
            "positive rate), equalized_odds (worse of TPR and FPR)."
        ),
    ]
    name: Name | None = None
    """Default: METRIC_DISPARITY[_FEATURES][_to_overall]."""
    disparity: Literal["difference", "ratio"] = "difference"
    """difference needs max, ratio needs min."""
    relative_to: Literal["between_groups", "to_overall"] = "between_groups"
    sensitive: Annotated[list[str], NonEmpty, UniqueItems()] | None = None
    """Judge on these sensitive features only (a subset of bias.sensitive; default all of them)."""
    min: float | None = None
    max: float | None = None
    decide_on: DecideOn | None = None
    """Default: the section's decide_on."""


class GroupJudging(DecidingSection):
    """How the bias gate judges groups, whatever table they come from."""

    sensitive: Annotated[
        Name | Annotated[list[Name], NonEmpty, UniqueItems()],
        Field(description="Sensitive column(s); with several, every combination of their values is a group."),
    ]
    missing_group: Name | None = None
    """Name of the group for rows whose sensitive value is missing (otherwise missing values are an error)."""
    min_group_size: Annotated[int, Field(ge=1)] = 30
    """Groups with fewer rows are reported with their counts but not judged."""
    min_class_rows: Annotated[int, Field(ge=1)] = 20
    """Fewest positives (TPR, FNR, recall, F1) or negatives (FPR, TNR), or both (balanced accuracy, ROC AUC,
    average precision, log loss), in every judged group of a rule on that metric; below it the rule warns, and
    is an error when the bound decides."""
    metrics: Annotated[list[GroupMetric], NonEmpty, UniqueItems()] = [
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
        "false_negative_rate",
        "accuracy",
        "error_rate",
        "precision",
    ]
    """Per-group metrics shown in the table (rule metrics are always added)."""
    plots: bool = True
    """Draw per-group bar charts into the report folder."""
    four_fifths: bool = False
    """Shorthand for {metric: selection_rate, disparity: ratio, relative_to: between_groups, min: 0.8}."""
    max_disparity: Annotated[float, Field(ge=0, le=1)] | None = None
    """Shorthand for {metric: error_rate, disparity: difference, max: VALUE}."""
    rules: list[Rule] = []

    def features(self) -> tuple[str, ...]:
        return (self.sensitive,) if isinstance(self.sensitive, str) else tuple(self.sensitive)


class BiasSettings(Predictions, GroupJudging):
    """Bias gate: per-group metrics over sensitive features (every intersection a group, fairlearn MetricFrame
    semantics) and disparity rules with bootstrap intervals."""

    section = "bias"

    task: Literal["binary"] = "binary"
    """The bias gate judges binary decisions."""
    classes: Annotated[list[Label], Field(min_length=2, max_length=2), UniqueItems()] | None = None
