"""Settings of the data-validation gate (`data:`) and the schema documents it checks a table against.

A schema document (YAML or JSON next to the policy, inline under `data.schema`, or inferred from a reference
table) has the shape of `SchemaDocument`; gates.data.schema validates every document, whatever its origin,
against the JSON Schema generated from that model, so the policy's inline schema and a schema file obey the same
rules. Bounds in a document are `int | float` so that a bound written as 1 stays 1 in messages and reports.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from gates.core.settings.base import (
    Bootstrap,
    DecideOn,
    PathList,
    PathText,
    Probability,
    Section,
    Settings,
)

Number = int | float
Bound = int | float | str  # a number, or an ISO date for date columns
Value = str | int | float | bool
Values = Annotated[list[Value], Field(min_length=1)]
Text = Annotated[str, Field(min_length=1)]
Severity = Literal["fail", "warn"]
ExtraColumns = Literal["allow", "warn", "fail"]
StatisticDecideOn = Annotated[
    Literal["point", "bound"],
    Field(
        description="point: the value must be in range (a straddling interval warns); bound: the whole "
        "interval must be."
    ),
]


class Statistic(Settings):
    """Bounds on a column statistic."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    min: Number | None = None
    max: Number | None = None
    decide_on: StatisticDecideOn | None = None


def _statistic(text: str) -> Any:
    return Field(default=None, description=text)


class Quantile(Settings):
    """One quantile within a range."""

    q: Annotated[float, Field(gt=0, lt=1)]
    min: Number | None = None
    max: Number | None = None
    decide_on: StatisticDecideOn | None = None


class InSet(Settings):
    """Share of non-missing values in a set, with a Wilson interval."""

    values: Values
    min_share: Probability | None = None
    max_share: Probability | None = None
    decide_on: StatisticDecideOn | None = None


class Length(Settings):
    """Bounds on the length of each value as text."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None


class ColumnRules(Settings):
    """The rules of one column (the keys of `columns.NAME`, and of a column rule in `checks`)."""

    type: Literal["integer", "number", "string", "boolean", "datetime"] | None = None
    required: bool | None = None
    """The column must be present (default true)."""
    max_null_rate: Probability | None = None
    """Largest share of missing values."""
    min: Bound | None = None
    """Every value >= this (a number, or an ISO date for date columns)."""
    max: Bound | None = None
    """Every value <= this (a number, or an ISO date for date columns)."""
    allowed: Values | None = None
    """Every value is one of these (compared as text: 1, 1.0 and '1' are one value)."""
    unique: bool | None = None
    """No value appears twice."""
    sensitive: bool | None = None
    """Never show this column's values in a report: failures give row numbers only."""
    above: Bound | None = None
    """Every value > this (strict)."""
    below: Bound | None = None
    """Every value < this (strict)."""
    forbidden: Values | None = None
    """No value is one of these."""
    contains: Values | None = None
    """Each of these values appears at least once."""
    pattern: Text | None = None
    """A regular expression (RE2 syntax) every value matches somewhere (anchor with ^ and $)."""
    not_pattern: Text | None = None
    """A regular expression no value matches."""
    length: Length | None = None
    monotonic: Literal["increasing", "decreasing", "strictly_increasing", "strictly_decreasing"] | None = None
    """Values (in file order, missing ones skipped) never step the other way."""
    max_age: Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$")] | None = None
    """Freshness: the newest timestamp is at most this old ('36h', '2d', '90m') at the run's clock
    (data.as_of)."""
    mean: Statistic | None = _statistic("Mean, with a bootstrap interval.")
    std: Statistic | None = _statistic("Standard deviation (n-1), with a bootstrap interval.")
    sum: Statistic | None = _statistic("Sum, with a bootstrap interval.")
    median: Statistic | None = _statistic("Median, with an exact order-statistic interval.")
    smallest: Statistic | None = _statistic("Smallest value (point value, no interval).")
    largest: Statistic | None = _statistic("Largest value (point value, no interval).")
    distinct: Statistic | None = _statistic("Number of distinct values (point value).")
    distinct_share: Statistic | None = _statistic("Distinct values / non-missing values (point value).")
    quantiles: Annotated[list[Quantile], Field(min_length=1)] | None = None
    """Quantiles within ranges, each with an exact order-statistic interval."""
    in_set: InSet | None = None


class RowBounds(Settings):
    """Bounds on the number of rows."""

    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=1)] | None = None


class CheckEntry(Settings):
    """One more rule: a column rule (`column` and any column key) that may carry `mostly`, or a table rule
    (`duplicates` or `expression`). gates.data.schema checks which keys go together."""

    # a column rule's own keys (pattern, mean, ...) sit beside these; they are checked as ColumnRules
    model_config = ConfigDict(extra="allow", json_schema_extra={"minProperties": 1})

    column: Text | None = None
    """The column this rule is about; the other keys are column keys (pattern, mean, ...)."""
    mostly: Probability | None = None
    """Pass when at least this share of the non-missing values meet the row rules (as Great Expectations'
    mostly)."""
    duplicates: bool | Annotated[list[str], Field(min_length=1)] | None = None
    """true: no two rows are equal in every column; a list: in these columns."""
    expression: Text | None = None
    """A relation between columns that every row meets, e.g. 'start <= end' or 'total == a + b' (a safe
    expression language, never evaluated as Python)."""
    tolerance: Annotated[float, Field(ge=0)] | None = None
    """With expression: == holds within this absolute difference."""
    name: Text | None = None
    """The check's name in the report."""
    severity: Severity | None = None
    """warn: a broken rule warns instead of failing (default fail)."""
    skip_missing: Literal["any", "all", "none"] | None = None
    """With expression: rows not judged for missing values: any (a named value missing; default), all (every
    named value missing; others with one missing fail), none (missing values fail)."""


class SchemaDocument(Settings):
    """A schema: per-column rules, row bounds, what to do with other columns, and more rules."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    columns: dict[str, ColumnRules] | None = None
    rows: RowBounds | None = None
    extra_columns: ExtraColumns | None = None
    checks: Annotated[list[CheckEntry], Field(min_length=1)] | None = None
    """More rules: a column rule (`column` and any column key above) that may carry `mostly`, or a table rule
    (`duplicates` or `expression`). Each may carry `name` and `severity`."""


class Infer(Settings):
    """How a schema is inferred from a reference table."""

    range_margin: Annotated[float, Field(ge=0)] = 0.25
    """Inferred ranges are widened by this share of the observed range on each side."""
    max_categories: Annotated[int, Field(ge=1)] = 50
    """Text columns with at most this many values get an allowed list."""


class RowChange(Settings):
    """The row count may differ from a reference table's by at most this share, either way."""

    reference: PathText | None = None
    """The reference table (default: infer_from)."""
    rows: Annotated[int, Field(ge=1)] | None = None
    """Or the reference's row count, when the table is not at hand."""
    max_share: Annotated[float, Field(ge=0)]


class Reference(Settings):
    """A referential check: every key of this table is a key of another table."""

    columns: Annotated[list[str], Field(min_length=1)] = Field(description="The key columns of this table.")
    table: PathText = Field(description="The table that holds every key.")
    keys: Annotated[list[str], Field(min_length=1)] | None = None
    """Its key columns (default: the same names)."""
    name: Text | None = None
    severity: Severity = "fail"

    def key_columns(self) -> list[str]:
        return self.keys or self.columns


class DataSettings(Section):
    """Data-validation gate: a table against a declared schema (columns, types, nulls, ranges, patterns,
    freshness, statistics with intervals, relations), an inferred one, or Great Expectations / pandera
    suites."""

    section = "data"

    table: PathText
    schema_: PathText | SchemaDocument | None = Field(
        default=None,
        alias="schema",
        description="A schema file (YAML or JSON), or the schema inline. When the file does not exist and "
        "infer_from is set, the inferred schema is saved there.",
    )
    infer_from: PathText | None = None
    save_schema: PathText | None = None
    infer: Infer = Infer()
    rows: RowBounds | None = None
    """Row-count bounds (over the schema's)."""
    extra_columns: ExtraColumns | None = None
    """Columns not in the schema: allowed, a warning (the schema's default) or a failure."""
    suite: PathText | PathList | None = None
    """A Great Expectations expectation suite (JSON) or a pandera schema (YAML or JSON) whose checks the gate
    runs too; or a list of them."""
    unsupported: Literal["warn", "error"] = "warn"
    """Expectations or checks of a suite the gate cannot run: listed with a warning or an error."""
    sensitive: Annotated[list[Text], Field(min_length=1)] | None = None
    """Columns whose values never appear in a report (as the schema's `sensitive: true`)."""
    as_of: Text | None = None
    """The clock for freshness (max_age): an ISO date-time; default the time of the run."""
    bootstrap: Bootstrap | None = None
    """Intervals of column statistics (default: defaults.bootstrap): same seed, same numbers."""
    decide_on: DecideOn | None = None
    """Column statistics: whether the point value or the interval's bound must be in range (default:
    defaults.decide_on)."""
    row_change: RowChange | None = None
    references: Annotated[list[Reference], Field(min_length=1)] | None = None
    """Referential checks: every key of this table is a key of another table."""

    def suites(self) -> list[str]:
        """The suite paths, as a list."""
        if self.suite is None:
            return []
        return [self.suite] if isinstance(self.suite, str) else list(self.suite)
