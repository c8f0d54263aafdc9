"""Settings of the model-metrics gate (`metrics:`) and what it shares with the bias gate (predictions, streaming)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, WithJsonSchema, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from gates.core.settings.base import (
    Columns,
    DecideOn,
    DecidingSection,
    Label,
    PathText,
    Probability,
    Settings,
    Threshold,
    UniqueItems,
    UnitThreshold,
)
from gates.core.settings.engine import EngineName


class Streaming(Settings):
    """How a large binary predictions file is read in chunks."""

    enabled: bool | Literal["auto"] = "auto"
    batch_rows: Annotated[int, Field(ge=1000)] = 1_000_000
    """Rows read per chunk."""
    max_cells: Annotated[int, Field(ge=1024)] = 1 << 23
    """Most distinct cells kept; beyond it scores are merged onto a 2^-k grid and ROC AUC / average precision
    become approximate with a stated bound."""


StreamingChoice = Annotated[
    bool | Literal["auto"] | Streaming,
    Field(
        description="Read binary predictions in chunks and keep only their exact cells (counts per distinct "
        "group, score, label and prediction), for files larger than memory. true, false, or auto (Parquet files "
        "over 20 million rows, text files over 1 GiB); an object sets the batch size and the most cells kept "
        "before scores are merged onto a grid."
    ),
]


def streaming_of(value: bool | str | Streaming) -> Streaming:
    """The `streaming` key as one object (true / false / auto are shorthands for `enabled`)."""
    return value if isinstance(value, Streaming) else Streaming(enabled=value)  # type: ignore[arg-type]


class Predictions(DecidingSection):
    """What the metrics and bias gates read from a predictions table."""

    predictions: PathText
    columns: Columns | None = None
    positive_label: Label | None = None
    """Default: the last class."""
    decision_threshold: Probability = 0.5
    """Scores at or above it predict the positive class (when no prediction column is given)."""
    streaming: StreamingChoice = "auto"
    engine: EngineName | None = None

    def reader_spec(self, **changes: Any) -> dict[str, Any]:
        """The settings as the prediction readers and engines (gates.readers.predictions, gates.engine) still
        take them: the mapping the policy gave (keys left unset stay absent), with `changes` laid over it."""
        spec = self.model_dump(exclude_unset=True)
        spec.update(changes)
        return spec


class Margin(Settings):
    """How much worse than the baseline the candidate may be: absolute, or relative to the baseline's value."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    absolute: Annotated[float, Field(ge=0)] | None = None
    relative: Probability | None = None

    def allowed(self, baseline: float) -> float:
        if self.absolute is not None:
            return self.absolute
        return (self.relative or 0.0) * abs(baseline)


class Baseline(Settings):
    """The production model's predictions on the same rows; compared by a paired bootstrap."""

    nullable = frozenset({"join_on"})

    predictions: PathText
    columns: Columns | None = None
    """Default: the metrics section's columns."""
    join_on: Annotated[
        str | None,
        WithJsonSchema({"type": ["string", "null"]}),
        Field(
            description="Id column to join on (default columns.id); null joins by row order and checks the "
            "labels agree."
        ),
    ] = None
    decide_on: DecideOn = "bound"
    margins: dict[str, Margin] | None = None
    """Non-inferiority margin per metric: how much worse than the baseline the candidate may be. Required when
    decide_on is bound (the default): a margin of 0 fails an equally good candidate about 97% of the time. Each
    check reports the chance that an equal model passes at this n and the smallest margin that gives 80%."""


class MetricThresholds(Settings):
    """Limits per metric."""

    accuracy: UnitThreshold | None = None
    balanced_accuracy: UnitThreshold | None = None
    precision: UnitThreshold | None = None
    recall: UnitThreshold | None = None
    f1: UnitThreshold | None = None
    precision_macro: UnitThreshold | None = None
    recall_macro: UnitThreshold | None = None
    f1_macro: UnitThreshold | None = None
    precision_weighted: UnitThreshold | None = None
    recall_weighted: UnitThreshold | None = None
    f1_weighted: UnitThreshold | None = None
    roc_auc: UnitThreshold | None = None
    average_precision: UnitThreshold | None = None
    log_loss: Threshold | None = None
    brier: UnitThreshold | None = None
    rmse: Threshold | None = None
    mae: Threshold | None = None
    r2: Threshold | None = None
    mape: Threshold | None = None
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> MetricThresholds:
        """Checks are reported in the order the policy lists their metrics."""
        model: MetricThresholds = handler(data)
        if isinstance(data, dict):
            model._order = tuple(data)
        return model

    def given(self) -> dict[str, Threshold]:
        """The metrics with a limit, in the policy's order."""
        names = self._order or tuple(type(self).model_fields)
        return {name: limit for name in names if (limit := getattr(self, name, None)) is not None}


class MetricsJudging(DecidingSection):
    """How the metrics gate judges the metrics, whatever table they come from."""

    min_class_rows: Annotated[int, Field(ge=1)] = 20
    """Binary tasks: fewest positives and negatives for a trusted interval of a metric driven by the rarer class
    (recall, precision, f1, balanced accuracy, ROC AUC, average precision, log loss); below it the check warns,
    and is an error when the bound decides."""
    thresholds: MetricThresholds | None = None
    baseline: Baseline | None = None

    def limits(self) -> dict[str, Threshold]:
        return self.thresholds.given() if self.thresholds else {}


class MetricsSettings(Predictions, MetricsJudging):
    """Model-metrics gate: classification or regression metrics with bootstrap intervals and a baseline
    comparison."""

    section = "metrics"

    task: Literal["binary", "multiclass", "regression"] | None = None
    """Default: multiclass when columns.scores is given, else binary."""
    classes: Annotated[list[Label], Field(min_length=2), UniqueItems()] | None = None
