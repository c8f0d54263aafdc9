"""Writing a drift reference profile (``mlgate drift profile``): the reference's statistics computed once and
stored, so later runs compare against the profile instead of reading the raw reference again.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gates.core.context import sha256_file
from gates.core.settings.drift import DriftSettings
from gates.drift_columns import BATCH, column_profile, column_rule, selected_columns, worker_count
from gates.readers.columns import (
    ColumnSource,
    profile_document,
    save_profile,
)
from gates.stats import drift_profiles as dp


def build_reference_profile(
    source: ColumnSource, names: list[str], settings: DriftSettings
) -> dict[str, dp.Profile]:
    """Profiles of the named reference columns (for `mlgate drift profile`), in parallel batches."""
    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]

    def work(columns: list[str]) -> list[tuple[str, dp.Profile]]:
        ref = source.read(columns)
        return [(n, column_profile(ref[n], column_rule(settings, n), settings)) for n in columns]

    with ThreadPoolExecutor(max_workers=max(1, min(worker_count(settings), len(batches)))) as pool:
        return dict(pair for part in pool.map(work, batches) for pair in part)


def write_profile(
    section: DriftSettings | Mapping[str, Any],
    reference_path: Path,
    target: Path,
    engine_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the reference statistics once and store them; returns what was written (for the command).
    `engine_settings`: the policy's `engine:` section, for a reference the section's engine profiles."""
    # Profiling reads no current data: a section without `current` is still validated like the policy (so a
    # bad --quantiles is a one-line error), with a placeholder that nothing opens.
    if not isinstance(section, DriftSettings):
        section = {"current": "(not read when profiling)", **section}
    settings = DriftSettings.of(section, "drift profile settings")
    from gates.engine import choose

    profiled = choose.drift_profiles(str(reference_path), settings, dict(engine_settings or {}))
    if profiled is not None:  # DuckDB: a glob, a folder, a large file
        profiles, rows, label = profiled
        return _written(
            target, profile_document(profiles, rows, label, None, settings.profile_settings.model_dump())
        )
    source = ColumnSource(reference_path)
    names = selected_columns(source.names, settings.model_copy(update={"outputs": None}), str(reference_path))
    out_columns = list(settings.outputs.columns) if settings.outputs else []
    if out_columns and not (settings.outputs and settings.outputs.reference):
        source.require(out_columns)
        names += [c for c in out_columns if c not in names]
    profiles = build_reference_profile(source, names, settings)
    document = profile_document(
        profiles,
        source.rows,
        str(reference_path),
        sha256_file(reference_path),
        settings.profile_settings.model_dump(),
    )
    return _written(target, document)


def _written(target: Path, document: dict[str, Any]) -> dict[str, Any]:
    """Store a profile document; what was written, for the command."""
    save_profile(target, document)
    kinds: dict[str, int] = {}
    for p in document["columns"].values():
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    return {
        "path": str(target),
        "rows": document["rows"],
        "columns": len(document["columns"]),
        "kinds": kinds,
        "bytes": target.stat().st_size,
    }
