"""Settings of the drift gate (`drift:`): what is compared, how each column is judged, how the reference is
summarised."""

# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import PathText, Section, Settings, UniqueItems
from gates.core.settings.engine import EngineName

ColumnList = Annotated[list[str], Field(min_length=1), UniqueItems()]
Distance = Literal["wasserstein", "tvd", "psi", "jensenshannon"]
Kind = Literal["numeric", "categorical"]
NonNegative = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]


class Distances(Settings):
    """The distance whose tolerance a drift must exceed, per kind of column."""

    numeric: Literal["wasserstein", "psi", "jensenshannon"] = "wasserstein"
    """wasserstein: Wasserstein-1 distance / reference standard deviation."""
    categorical: Literal["tvd", "psi", "jensenshannon"] = "tvd"
    """tvd: total variation, the share of rows that moved between categories."""

    def for_kind(self, kind: str) -> str:
        return self.numeric if kind == "numeric" else self.categorical


class Tolerances(Settings):
    """Tolerance per distance: a significant change drifts only when its distance exceeds this."""

    wasserstein: NonNegative = 0.1
    tvd: Share = 0.025
    psi: NonNegative = 0.1
    jensenshannon: Share = 0.1


class ColumnRule(Settings):
    """Overrides for one column."""

    distance: Distance | None = None
    """Default: distances.<kind>."""
    tolerance: NonNegative | None = None
    """Default: tolerances.<distance>."""
    kind: Kind | None = None
    """Override the inferred kind (numbers with at most two values count as categories)."""
    critical: bool = False
    """Drift of this column fails the gate, whatever the share."""


class Outputs(Settings):
    """Model outputs (scores, predictions) judged on their own: any drift fails the gate. Without reference /
    current, the columns are read from the main tables."""

    columns: ColumnList
    reference: PathText | None = None
    current: PathText | None = None


class ProfileSettings(Settings):
    """How reference columns are summarised."""

    quantiles: Annotated[int, Field(ge=10, le=100000)] = 1000
    """Quantile steps for numeric columns with many values."""
    bins: Annotated[int, Field(ge=2, le=1000)] = 10
    """Reference-quantile bins for PSI and Jensen-Shannon on numbers."""
    exact_limit: Annotated[int, Field(ge=0)] = 2000
    """Numeric columns with at most this many distinct values are stored exactly."""
    max_categories: Annotated[int, Field(ge=2)] = 1000
    """Text columns with more values are skipped as identifiers."""


class DriftSettings(Section):
    """Drift gate: current data against a reference table or a stored reference profile, per column and
    overall."""

    section = "drift"

    current: PathText
    reference: PathText | None = None
    """The reference table, or a profile written by `mlgate drift profile` (.json)."""
    profile: PathText | None = None
    """A stored reference profile (used when no reference is given; where `mlgate drift profile` writes)."""
    save_profile: PathText | None = None
    """Also store the reference statistics computed in this run."""
    engine: EngineName | None = None
    """Which engine profiles a raw reference table (the current data is read here)."""
    columns: ColumnList | None = None
    """Columns to check (default: every reference column)."""
    exclude: Annotated[list[str], UniqueItems()] = []
    share: Annotated[float, Field(gt=0, le=1)] = 0.5
    """The data set drifts when the share of drifted columns reaches this."""
    min_rows: Annotated[int, Field(ge=1)] = 30
    """Columns with fewer values on either side are reported as tiny_sample, not judged."""
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Significance level of each column's test (KS for numeric, chi-square for categorical), after the
    multiple-testing correction."""
    correction: Literal["bh", "holm", "none"] = "bh"
    """Multiple-testing correction across columns: bh (Benjamini-Hochberg, false discovery rate), holm
    (family-wise error), none."""
    distances: Distances = Distances()
    tolerances: Tolerances = Tolerances()
    per_column: dict[str, ColumnRule] = {}
    """Per-column overrides."""
    outputs: Outputs | None = None
    profile_settings: ProfileSettings = ProfileSettings()
    workers: Annotated[int, Field(ge=1, le=64)] | None = None
    """Threads (default: CPUs, at most 4)."""
    plots: bool = True
    """Draw reference-vs-current histograms of drifted columns."""
    max_plots: Annotated[int, Field(ge=0)] = 12
