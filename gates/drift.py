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

Column evaluation is in gates/drift_columns.py, profile writing (``mlgate drift profile``) in
gates/drift_profile.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gates.core.context import GateContext, sha256_file
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.drift import DriftSettings
from gates.drift_columns import Reference, column_rule, compare_columns, open_reference, selected_columns
from gates.drift_profile import write_profile
from gates.readers.columns import (
    ColumnSource,
    profile_document,
    save_profile,
)
from gates.stats import drift as ds
from gates.stats import drift_profiles as dp
from gates.stats import drift_tests

__all__ = [
    "GATE",
    "Reference",
    "assess",
    "column_check",
    "column_table",
    "evaluate",
    "open_reference",
    "run",
    "share_check",
    "write_profile",
]

GATE = "drift"


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
