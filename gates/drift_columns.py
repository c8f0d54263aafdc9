"""The drift gate's column evaluation: the reference side (a raw table or a stored profile), which columns are
judged, and each column's comparison (profile the reference when raw, then the test and distance of
:mod:`gates.stats.drift`), a few columns at a time on a small thread pool so memory stays bounded.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from gates.core.errors import InputError
from gates.core.settings.drift import ColumnRule, DriftSettings
from gates.readers.columns import (
    ColumnSource,
    NotNumbers,
    arrow_kind,
    build_profile,
    category_counts,
    is_profile_path,
    load_profile,
    numeric_values,
)
from gates.stats import drift as ds
from gates.stats import drift_profiles as dp

BATCH = 4  # Parquet columns read per task


def worker_count(settings: DriftSettings) -> int:
    """Threads for the column batches: `workers`, else the CPUs, at most 4."""
    return settings.workers or max(1, min(4, os.cpu_count() or 1))


def column_rule(settings: DriftSettings, name: str) -> ColumnRule:
    return settings.per_column.get(name) or ColumnRule()


@dataclass
class Reference:
    """The reference side: a raw table (profiled on the fly) or a stored profile."""

    label: str
    source: ColumnSource | None = None
    profiles: dict[str, dp.Profile] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        if self.profiles is not None:
            return list(self.profiles)
        if self.source is not None:
            return list(self.source.names)
        raise ValueError("a drift reference needs a table or a stored profile")

    @property
    def rows(self) -> int | None:
        return self.source.rows if self.source is not None else self.meta.get("rows")


def open_reference(path: Path) -> Reference:
    if is_profile_path(path):
        profiles, meta = load_profile(path)
        return Reference(label=str(path), profiles=profiles, meta=meta)
    return Reference(label=str(path), source=ColumnSource(path))


def selected_columns(names: list[str], settings: DriftSettings, where: str) -> list[str]:
    wanted = settings.columns
    if wanted:
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InputError(
                f"{where}: drift.columns names {', '.join(repr(c) for c in missing)}, not in the "
                f"reference (columns: {', '.join(names)})"
            )
        names = list(wanted)
    exclude = set(settings.exclude)
    outputs = set(settings.outputs.columns) if settings.outputs and not settings.outputs.reference else set()
    return [n for n in names if n not in exclude and n not in outputs]


def compare_columns(
    reference: Reference, current: ColumnSource, names: list[str], settings: DriftSettings
) -> tuple[list[ds.ColumnDrift], dict[str, dp.Profile]]:
    """Profile (if raw) and compare each column; columns in parallel batches, results in the given order."""
    batch = (
        BATCH
        if current.kind == "parquet" or (reference.source and reference.source.kind == "parquet")
        else max(1, len(names) // max(1, worker_count(settings)))
    )
    batches = [names[i : i + batch] for i in range(0, len(names), batch)]

    def work(columns: list[str]) -> list[tuple[ds.ColumnDrift, dp.Profile]]:
        cur = current.read(columns)
        ref = reference.source.read(columns) if reference.source is not None else None
        out = []
        for name in columns:
            spec = column_rule(settings, name)
            if ref is not None:
                profile = column_profile(ref[name], spec, settings)
            elif reference.profiles is not None:
                profile = reference.profiles[name]
            else:
                raise ValueError("a drift reference needs a table or a stored profile")
            out.append((compare_column(name, profile, cur.get(name), spec, settings), profile))
            cur.pop(name, None)
            if ref is not None:
                ref.pop(name, None)
        return out

    workers = min(worker_count(settings), len(batches))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(work, batches))
    else:
        done = [work(b) for b in batches]
    pairs = [pair for part in done for pair in part]
    return [r for r, _ in pairs], {r.column: p for r, p in pairs}


class _CompareOptions(TypedDict):
    """The keyword arguments compare_numeric and compare_categorical share."""

    distance: str | None
    tolerance: float | None
    min_rows: int
    with_plot: bool


def compare_column(
    name: str, profile: dp.Profile, column: Any, spec: ColumnRule, settings: DriftSettings
) -> ds.ColumnDrift:
    """One column, whatever its state: every outcome is a named status with a reason, never an exception."""
    if column is None:
        return ds.ColumnDrift(
            name,
            profile.kind,
            "missing",
            None,
            "the column is not in the current data",
            reference_count=profile.count,
            reference_nulls=profile.nulls,
        )
    if isinstance(profile, dp.SkippedProfile):
        return ds.ColumnDrift(
            name,
            "skipped",
            "skipped",
            None,
            profile.reason,
            reference_count=profile.count,
            reference_nulls=profile.nulls,
        )
    distance = spec.distance or settings.distances.for_kind(profile.kind)
    tolerance = (
        spec.tolerance if spec.tolerance is not None else float(getattr(settings.tolerances, distance))
    )
    options: _CompareOptions = {
        "distance": distance,
        "tolerance": tolerance,
        "min_rows": settings.min_rows,
        "with_plot": settings.plots,
    }
    if isinstance(profile, dp.NumericProfile):
        if arrow_kind(column) == "temporal" and not profile.seconds:
            return ds.ColumnDrift(
                name,
                "numeric",
                "type_mismatch",
                None,
                f"the current column holds {column.type} values, but the reference profile holds plain numbers "
                "(or times in their raw unit, as profiles written before times were judged in seconds do); "
                "write the profile again with `mlgate drift profile`",
                reference_count=profile.count,
                reference_nulls=profile.nulls,
                current_nulls=int(column.null_count),
            )
        try:
            values = numeric_values(column)
        except NotNumbers:
            return ds.ColumnDrift(
                name,
                "numeric",
                "type_mismatch",
                None,
                f"numeric in the reference, but the current column holds {column.type} values "
                "that are not numbers",
                reference_count=profile.count,
                reference_nulls=profile.nulls,
                current_nulls=int(column.null_count),
            )
        return ds.compare_numeric(name, profile, values, owned=True, **options)
    categories, counts, nulls = category_counts(column)
    return ds.compare_categorical(name, profile, categories, counts, nulls, **options)


def column_profile(values: Any, rule: ColumnRule, settings: DriftSettings) -> dp.Profile:
    """A reference column's profile, summarised as profile_settings say."""
    how = settings.profile_settings
    return build_profile(values, rule.kind, how.quantiles, how.bins, how.exact_limit, how.max_categories)
