"""Drift gate: a current data set against a reference (raw table or stored profile), per column and overall.

Each column gets a test by its kind (KS for numbers, chi-square for categories) and a distance with a
tolerance; it drifts when the test is significant after the multiple-testing correction across columns AND the
distance exceeds the tolerance (see gates.stats.drift). The report states, per column, the test, its statistic,
the p-value and adjusted p-value, the distance and tolerance, the decision, and the correction. The data set
drifts when the share of drifted columns reaches `share` (default 0.5, as Evidently). Model outputs (scores,
predictions) are judged on their own (their own correction family): a drifted output fails the gate whatever
the share.

Columns are processed a few at a time on a small thread pool (numpy and pyarrow release the GIL), so memory
stays bounded by a handful of columns and a million rows by a hundred columns takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from gates.core.context import GateContext, sha256_file
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
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
    profile_document,
    save_profile,
)
from gates.stats import drift as ds
from gates.stats import drift_profiles as dp
from gates.stats import drift_tests

GATE = "drift"
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


# ------------------------------------------------------------------------------------------------- run
def run(section: DriftSettings | Mapping[str, Any], ctx: GateContext) -> GateResult:
    settings = DriftSettings.of(section)
    given_reference = settings.reference or settings.profile
    if not given_reference:
        raise InputError("drift: needs 'reference' (a table or a stored profile) or 'profile'")
    from gates.engine import choose

    profiled = choose.drift_profiles(choose.location(given_reference, ctx), settings, ctx.engine, ctx)
    reference = (  # DuckDB profiled the raw reference (a glob, a folder, a large file); else read here
        Reference(label=profiled[2], profiles=profiled[0], meta={"rows": profiled[1]})
        if profiled is not None
        else open_reference(ctx.path(given_reference, what="reference"))
    )
    current = ColumnSource(ctx.path(settings.current, what="current data"))
    outputs = None
    if settings.outputs:
        spec = settings.outputs
        out_ref = (
            open_reference(ctx.path(spec.reference, what="reference outputs"))
            if spec.reference
            else reference
        )
        out_cur = ColumnSource(ctx.path(spec.current, what="current outputs")) if spec.current else current
        outputs = (out_ref, out_cur, list(spec.columns))
    result, profiles, drifted = assess(reference, current, settings, outputs)
    if settings.save_profile and reference.source is not None:
        target = ctx.path(settings.save_profile, must_exist=False)
        save_profile(
            target,
            profile_document(
                profiles,
                reference.source.rows,
                reference.label,
                sha256_file(reference.source.path),
                settings.profile_settings.model_dump(),
            ),
        )
        result.evidence["saved_profile"] = str(target)
    if settings.plots and drifted:  # reference vs current histograms of drifted columns, for the reports
        result.evidence["histograms"] = [
            {"column": c.column, **(c.plot or {})} for c in drifted[: settings.max_plots]
        ]
    return result


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


def evaluate(
    reference: Reference,
    current: ColumnSource,
    section: DriftSettings | Mapping[str, Any],
    outputs: tuple[Reference, ColumnSource, list[str]] | None = None,
) -> GateResult:
    """Judge every selected column, then the share of drifted columns, then the model outputs."""
    return assess(reference, current, DriftSettings.of(section), outputs)[0]


def assess(
    reference: Reference,
    current: ColumnSource,
    settings: DriftSettings,
    outputs: tuple[Reference, ColumnSource, list[str]] | None = None,
) -> tuple[GateResult, dict[str, dp.Profile], list[ds.ColumnDrift]]:
    """evaluate(), plus the reference profiles (to store) and the drifted columns (to draw)."""
    names = selected_columns(reference.names, settings, reference.label)
    if not names:
        raise InputError(f"{reference.label}: no columns left to check (see drift.columns and drift.exclude)")
    results, profiles = compare_columns(reference, current, names, settings)
    ds.decide(results, settings.alpha, settings.correction)
    output_results: list[ds.ColumnDrift] = []
    if outputs is not None:
        out_ref, out_cur, out_names = outputs
        missing = [c for c in out_names if c not in out_ref.names]
        if missing:
            raise InputError(
                f"{out_ref.label}: drift.outputs.columns names {', '.join(map(repr, missing))}, not in "
                "the reference"
            )
        output_results, out_profiles = compare_columns(out_ref, out_cur, out_names, settings)
        ds.decide(output_results, settings.alpha, settings.correction)
        profiles.update({k: v for k, v in out_profiles.items() if k not in profiles})
    for r in results + output_results:
        r.critical = column_rule(settings, r.column).critical
    checks = [column_check(r) for r in results]
    checks.append(share_check(results, settings.share))
    checks += [column_check(r, output=True) for r in output_results]
    judged = [r for r in results if r.drifted is not None]
    drifted = [r for r in judged if r.drifted]
    share = len(drifted) / len(judged) if judged else None
    evidence: dict[str, Any] = {
        "reference": {
            "source": reference.label,
            "rows": reference.rows,
            "kind": "profile" if reference.profiles is not None else "table",
            **({"profile": {k: v for k, v in reference.meta.items()}} if reference.meta else {}),
        },
        "current": {"source": str(current.path), "rows": current.rows},
        "settings": {
            "min_rows": settings.min_rows,
            "share": settings.share,
            "alpha": settings.alpha,
            "correction": settings.correction,
            "correction_method": ds.CORRECTION_TITLES[settings.correction],
            "tests": {"numeric": "ks", "categorical": "chisquare"},
            "distances": settings.distances.model_dump(),
            "tolerances": settings.tolerances.model_dump(),
            "epsilon": drift_tests.EPSILON,
            "profile": settings.profile_settings.model_dump(),
        },
        "share": share,
        "drifted": [r.column for r in drifted],
        "columns": [r.to_dict() for r in results],
        "tables": {"Drift per column": column_table(results)},
    }
    if output_results:
        evidence["outputs"] = [r.to_dict() for r in output_results]
        evidence["tables"]["Drift of model outputs"] = column_table(output_results)
    summary = {
        "share": round(share, 6) if share is not None else None,
        "drifted": len(drifted),
        "columns": len(results),
    }
    result = GateResult(gate=GATE, checks=checks, evidence=evidence, summary=summary)
    return result, profiles, [r for r in output_results + results if r.drifted and r.plot]


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
                profile = _profile(ref[name], spec, settings)
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


# ------------------------------------------------------------------------------------------ checks, tables
_NOT_JUDGED_STATUS = {
    "tiny_sample": Status.WARN,
    "all_null": Status.WARN,
    "skipped": Status.WARN,
    "missing": Status.ERROR,
    "type_mismatch": Status.ERROR,
    "invalid_test": Status.ERROR,
}


def threshold_text(r: ds.ColumnDrift) -> str | None:
    """The no-drift condition, as the report states it: adjusted p-value at least alpha, or distance within
    the tolerance."""
    if r.p_adjusted is None or r.distance is None:
        return None
    p_name = "p" if r.correction == "none" else f"p ({r.correction})"
    return f"{p_name} >= {r.alpha:g} or {r.distance} <= {r.tolerance:g}"


def column_check(r: ds.ColumnDrift, output: bool = False) -> Check:
    """Drifted feature columns warn (fail when marked critical); drifted model outputs fail."""
    if r.drifted:
        status = Status.FAIL if (output or r.critical) else Status.WARN
    elif r.drifted is None:
        status = _NOT_JUDGED_STATUS.get(r.status, Status.WARN)
    else:
        status = Status.WARN if r.status == "unseen_categories" else Status.PASS
    why = f"{r.status}: {r.reason}" if not r.reason.startswith(r.status.replace("_", " ")) else r.reason
    if r.notes:
        why += " (" + "; ".join(r.notes) + ")"
    details = r.to_dict()
    return Check(
        name=f"{'output' if output else 'column'}:{r.column}",
        status=status,
        why=why,
        value=r.distance_value,
        threshold=threshold_text(r),
        details=details,
    )


def share_check(results: list[ds.ColumnDrift], share: float) -> Check:
    judged = [r for r in results if r.drifted is not None]
    if not judged:
        return Check(
            "dataset_drift",
            Status.ERROR,
            f"no column could be judged ({len(results)} checked, see their "
            "statuses): no evidence is not a pass",
            threshold=f"share of drifted columns < {share:g}",
        )
    drifted = [r.column for r in judged if r.drifted]
    value = len(drifted) / len(judged)
    names = ", ".join(drifted[:8]) + (f" and {len(drifted) - 8} more" if len(drifted) > 8 else "")
    skipped = len(results) - len(judged)
    tail = f"; {skipped} column{'s' if skipped != 1 else ''} not judged" if skipped else ""
    listing = f" ({names})" if drifted else ""
    if value >= share:
        status = Status.FAIL
        why = (
            f"data set drift: {len(drifted)} of {len(judged)} columns drifted{listing}, share {value:.2%} "
            f"reaches {share:.0%}{tail}"
        )
    else:
        status = Status.PASS
        why = (
            f"no data set drift: {len(drifted)} of {len(judged)} columns drifted{listing}, share {value:.2%} "
            f"below {share:.0%}{tail}"
        )
    return Check(
        "dataset_drift",
        status,
        why,
        value=value,
        threshold=f"share of drifted columns < {share:g}",
        details={"drifted": drifted, "judged": len(judged), "columns": len(results)},
    )


def column_table(results: list[ds.ColumnDrift]) -> str:
    from gates.core.numbers import number

    correction = next((r.correction for r in results if r.correction), None)
    p_title = "p-value" if correction in (None, "none") else f"p-value ({ds.CORRECTION_TITLES[correction]})"
    lines = [
        (
            f"| column | kind | test | statistic | {p_title} | distance | value | tolerance | status "
            "| reference n (missing) | current n (missing) | note |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        test = r.test or "–"
        if r.approximate:
            test += " (approx.)"
        notes = "; ".join(r.notes).replace("|", "\\|")
        p_text = f"{number(r.p_value)} ({number(r.p_adjusted)})" if r.p_value is not None else "–"
        lines.append(
            f"| {r.column} | {r.kind} | {test} | {number(r.statistic)} | {p_text} | {r.distance or '–'} | "
            f"{number(r.distance_value)} | {number(r.tolerance)} | "
            f"{'**' + r.status + '**' if r.drifted else r.status} | {r.reference_count} ({r.reference_nulls}) "
            f"| {r.current_count} ({r.current_nulls}) | {notes} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ profile
def build_reference_profile(
    source: ColumnSource, names: list[str], settings: DriftSettings
) -> dict[str, dp.Profile]:
    """Profiles of the named reference columns (for `mlgate drift profile`), in parallel batches."""
    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]

    def work(columns: list[str]) -> list[tuple[str, dp.Profile]]:
        ref = source.read(columns)
        return [(n, _profile(ref[n], column_rule(settings, n), settings)) for n in columns]

    with ThreadPoolExecutor(max_workers=max(1, min(worker_count(settings), len(batches)))) as pool:
        return dict(pair for part in pool.map(work, batches) for pair in part)


def _profile(values: Any, rule: ColumnRule, settings: DriftSettings) -> dp.Profile:
    """A reference column's profile, summarised as profile_settings say."""
    how = settings.profile_settings
    return build_profile(values, rule.kind, how.quantiles, how.bins, how.exact_limit, how.max_categories)


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
