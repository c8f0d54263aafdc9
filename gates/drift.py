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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from gates.core.context import GateContext, sha256_file
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
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

GATE = "drift"
DEFAULT_SHARE = 0.5
BATCH = 4  # Parquet columns read per task


@dataclass
class Settings:
    """How the reference is summarised and how columns are judged (all from the policy section)."""

    quantiles: int = dp.QUANTILES
    bins: int = dp.BINS
    exact_limit: int = dp.EXACT_LIMIT
    max_categories: int = dp.MAX_CATEGORIES
    min_rows: int = ds.MIN_ROWS
    alpha: float = ds.ALPHA
    correction: str = ds.CORRECTION
    tolerances: dict[str, float] = field(default_factory=dict)  # distance -> tolerance
    distances: dict[str, str] = field(default_factory=dict)  # kind -> distance
    per_column: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int = 0
    plots: bool = True

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> Settings:
        profile = section.get("profile_settings") or {}
        return cls(
            quantiles=profile.get("quantiles", dp.QUANTILES),
            bins=profile.get("bins", dp.BINS),
            exact_limit=profile.get("exact_limit", dp.EXACT_LIMIT),
            max_categories=profile.get("max_categories", dp.MAX_CATEGORIES),
            min_rows=section.get("min_rows", ds.MIN_ROWS),
            alpha=section.get("alpha", ds.ALPHA),
            correction=section.get("correction", ds.CORRECTION),
            tolerances=dict(section.get("tolerances") or {}),
            distances=dict(section.get("distances") or {}),
            per_column=dict(section.get("per_column") or {}),
            workers=section.get("workers", 0),
            plots=section.get("plots", True),
        )

    def profile_settings(self) -> dict[str, Any]:
        return {
            "quantiles": self.quantiles,
            "bins": self.bins,
            "exact_limit": self.exact_limit,
            "max_categories": self.max_categories,
        }

    def worker_count(self) -> int:
        return self.workers or max(1, min(4, os.cpu_count() or 1))


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
def run(section: dict[str, Any], ctx: GateContext) -> GateResult:
    if not (section.get("reference") or section.get("profile")):
        raise InputError("drift: needs 'reference' (a table or a stored profile) or 'profile'")
    ref_key = "reference" if section.get("reference") else "profile"
    reference = open_reference(ctx.path(section[ref_key], what="reference"))
    current = ColumnSource(ctx.path(section["current"], what="current data"))
    settings = Settings.from_section(section)
    outputs = None
    if section.get("outputs"):
        spec = section["outputs"]
        out_ref = (
            open_reference(ctx.path(spec["reference"], what="reference outputs"))
            if spec.get("reference")
            else reference
        )
        out_cur = (
            ColumnSource(ctx.path(spec["current"], what="current outputs"))
            if spec.get("current")
            else current
        )
        outputs = (out_ref, out_cur, list(spec["columns"]))
    result, profiles, drifted = assess(reference, current, section, settings, outputs)
    if section.get("save_profile") and reference.source is not None:
        target = ctx.path(section["save_profile"], must_exist=False)
        save_profile(
            target,
            profile_document(
                profiles,
                reference.source.rows,
                reference.label,
                sha256_file(reference.source.path),
                settings.profile_settings(),
            ),
        )
        result.evidence["saved_profile"] = str(target)
    if settings.plots:
        from gates.formats import plots

        result.artifacts.update(
            plots.drift_histograms(drifted, ctx.report_dir, limit=int(section.get("max_plots", 12)))
        )
    return result


def selected_columns(names: list[str], section: dict[str, Any], where: str) -> list[str]:
    wanted = section.get("columns")
    if wanted:
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InputError(
                f"{where}: drift.columns names {', '.join(repr(c) for c in missing)}, not in the "
                f"reference (columns: {', '.join(names)})"
            )
        names = list(wanted)
    exclude = set(section.get("exclude") or [])
    outputs = (
        set((section.get("outputs") or {}).get("columns") or [])
        if not (section.get("outputs") or {}).get("reference")
        else set()
    )
    return [n for n in names if n not in exclude and n not in outputs]


def evaluate(
    reference: Reference,
    current: ColumnSource,
    section: dict[str, Any],
    settings: Settings | None = None,
    outputs: tuple[Reference, ColumnSource, list[str]] | None = None,
) -> GateResult:
    """Judge every selected column, then the share of drifted columns, then the model outputs."""
    return assess(reference, current, section, settings or Settings.from_section(section), outputs)[0]


def assess(
    reference: Reference,
    current: ColumnSource,
    section: dict[str, Any],
    settings: Settings,
    outputs: tuple[Reference, ColumnSource, list[str]] | None = None,
) -> tuple[GateResult, dict[str, dp.Profile], list[ds.ColumnDrift]]:
    """evaluate(), plus the reference profiles (to store) and the drifted columns (to draw)."""
    names = selected_columns(reference.names, section, reference.label)
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
        r.critical = bool(settings.per_column.get(r.column, {}).get("critical", False))
    checks = [column_check(r) for r in results]
    checks.append(share_check(results, float(section.get("share", DEFAULT_SHARE))))
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
            "share": float(section.get("share", DEFAULT_SHARE)),
            "alpha": settings.alpha,
            "correction": settings.correction,
            "correction_method": ds.CORRECTION_TITLES[settings.correction],
            "tests": {"numeric": "ks", "categorical": "chisquare"},
            "distances": {**ds.DEFAULT_DISTANCE, **settings.distances},
            "tolerances": {**ds.DEFAULT_TOLERANCES, **settings.tolerances},
            "epsilon": ds.EPSILON,
            "profile": settings.profile_settings(),
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
    reference: Reference, current: ColumnSource, names: list[str], settings: Settings
) -> tuple[list[ds.ColumnDrift], dict[str, dp.Profile]]:
    """Profile (if raw) and compare each column; columns in parallel batches, results in the given order."""
    batch = (
        BATCH
        if current.kind == "parquet" or (reference.source and reference.source.kind == "parquet")
        else max(1, len(names) // max(1, settings.worker_count()))
    )
    batches = [names[i : i + batch] for i in range(0, len(names), batch)]

    def work(columns: list[str]) -> list[tuple[ds.ColumnDrift, dp.Profile]]:
        cur = current.read(columns)
        ref = reference.source.read(columns) if reference.source is not None else None
        out = []
        for name in columns:
            spec = settings.per_column.get(name, {})
            if ref is not None:
                profile = build_profile(
                    ref[name],
                    spec.get("kind"),
                    settings.quantiles,
                    settings.bins,
                    settings.exact_limit,
                    settings.max_categories,
                )
            elif reference.profiles is not None:
                profile = reference.profiles[name]
            else:
                raise ValueError("a drift reference needs a table or a stored profile")
            out.append((compare_column(name, profile, cur.get(name), spec, settings), profile))
            cur.pop(name, None)
            if ref is not None:
                ref.pop(name, None)
        return out

    workers = min(settings.worker_count(), len(batches))
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
    name: str, profile: dp.Profile, column: Any, spec: dict[str, Any], settings: Settings
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
    distance = (
        spec.get("distance") or settings.distances.get(profile.kind) or ds.DEFAULT_DISTANCE[profile.kind]
    )
    tolerance = spec.get("tolerance", settings.tolerances.get(distance))
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
    from gates.formats.text import number

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
    source: ColumnSource, names: list[str], settings: Settings
) -> dict[str, dp.Profile]:
    """Profiles of the named reference columns (for `mlgate drift profile`), in parallel batches."""
    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]

    def work(columns: list[str]) -> list[tuple[str, dp.Profile]]:
        ref = source.read(columns)
        return [
            (
                n,
                build_profile(
                    ref[n],
                    settings.per_column.get(n, {}).get("kind"),
                    settings.quantiles,
                    settings.bins,
                    settings.exact_limit,
                    settings.max_categories,
                ),
            )
            for n in columns
        ]

    with ThreadPoolExecutor(max_workers=max(1, min(settings.worker_count(), len(batches)))) as pool:
        return dict(pair for part in pool.map(work, batches) for pair in part)


def write_profile(section: dict[str, Any], reference_path: Path, target: Path) -> dict[str, Any]:
    """Compute the reference statistics once and store them; returns what was written (for the command)."""
    source = ColumnSource(reference_path)
    settings = Settings.from_section(section)
    names = selected_columns(
        source.names, {k: v for k, v in section.items() if k in ("columns", "exclude")}, str(reference_path)
    )
    out_columns = list((section.get("outputs") or {}).get("columns") or [])
    if out_columns and not (section.get("outputs") or {}).get("reference"):
        source.require(out_columns)
        names += [c for c in out_columns if c not in names]
    profiles = build_reference_profile(source, names, settings)
    document = profile_document(
        profiles, source.rows, str(reference_path), sha256_file(reference_path), settings.profile_settings()
    )
    save_profile(target, document)
    kinds: dict[str, int] = {}
    for p in profiles.values():
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return {
        "path": str(target),
        "rows": source.rows,
        "columns": len(profiles),
        "kinds": kinds,
        "bytes": target.stat().st_size,
    }
