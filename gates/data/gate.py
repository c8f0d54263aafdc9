"""Data-validation gate: a table against a schema document (declared, inferred from a reference table, or read
from Great Expectations / pandera suites), plus table rules that need other files.

What runs, in report order: the row count; the columns (required present, extra ones per `extra_columns`);
per declared column one check of its row rules (gates.data.columns) and one per bounded statistic
(gates.data.statistics, judged with intervals); each entry of the document's `checks` (a column rule that may
carry `mostly`, duplicates, a relation); then the section's row-count change and referential checks
(gates.data.tables), and one check per suite saying what was read and what could not be (never skipped
silently). Every failure names the column, the check, how many rows break it and up to five of them, without
the values of sensitive columns. Schema documents: gates.data.schema.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.data import DataSettings
from gates.data.columns import Problem, column_problems, rows_text, timestamp
from gates.data.expressions import parse
from gates.data.schema import (
    RULE_MODIFIERS,
    check_schema_document,
    infer_schema,
    load_schema,
    save_schema,
)
from gates.data.statistics import Judging, column_statistics, has_statistics
from gates.data.suites import Suite, load_suite, merge
from gates.data.tables import TableOutcome, duplicates, references, relation, row_change
from gates.readers.table import read_table

__all__ = ["GATE", "evaluate", "infer_schema", "load_schema", "resolve_schema", "run"]

GATE = "data"


# ------------------------------------------------------------------------------------------------- evaluate
def evaluate(
    frame: pd.DataFrame,
    schema: dict[str, Any],
    where: str,
    origin: str = "declared",
    judging: Judging | None = None,
    now: pd.Timestamp | None = None,
    sensitive: set[str] | frozenset[str] = frozenset(),
) -> GateResult:
    """Pure part of the gate: a frame and a schema document in, the checks out. `now` is the clock that
    freshness is judged at (the time of the run when None); `sensitive` columns never show values."""
    judging = judging or Judging()
    columns: dict[str, Any] = schema.get("columns") or {}
    hidden = set(sensitive) | {c for c, spec in columns.items() if spec.get("sensitive")}
    rows = len(frame)
    checks = [_row_count(rows, schema.get("rows") or {}), _columns(frame, schema)]
    table = ["| column | type | nulls | failing rows | status | problems |", "|---|---|---|---|---|---|"]
    for name, spec in columns.items():
        if name not in frame.columns:
            continue
        series = frame[name]
        found = column_problems(series, spec, name, name in hidden, now)
        check = _column_check(f"column:{name}", found, rows, _describe(spec))
        checks.append(check)
        if has_statistics(spec):
            checks += column_statistics(series, spec, name, judging)
        null_rate = float(series.isna().mean()) if rows else 0.0
        problems = "; ".join(p.message for p in found).replace("|", "\\|")
        failing = int(np.logical_or.reduce([p.mask for p in found]).sum()) if found else 0
        table.append(
            f"| {name} | {spec.get('type', 'any')} | {null_rate:.2%} | {failing} | {check.status.value} | {problems} |"
        )
    for index, entry in enumerate(schema.get("checks") or []):
        checks += _entry(frame, entry, index, judging, now, hidden)
    evidence = {
        "table": where,
        "rows": rows,
        "schema_origin": origin,
        "schema": schema,
        "sensitive_columns": sorted(hidden),
        "tables": {"Columns against the schema": "\n".join(table)},
    }
    return GateResult(gate=GATE, checks=checks, evidence=evidence, summary=_summary(rows, checks))


def _summary(rows: int, checks: list[Check]) -> dict[str, Any]:
    return {"rows": rows, "failed-checks": sum(c.status is Status.FAIL for c in checks)}


def _row_count(rows: int, bounds: dict[str, Any]) -> Check:
    low, high = bounds.get("min", 1), bounds.get("max")
    text = f">= {low}" + (f" and <= {high}" if high is not None else "")
    inside = rows >= low and (high is None or rows <= high)
    why = f"{rows} rows ({text})" if inside else f"{rows} rows, outside the bounds ({text})"
    return Check("row_count", Status.PASS if inside else Status.FAIL, why, value=float(rows), threshold=text)


def _columns(frame: pd.DataFrame, schema: dict[str, Any]) -> Check:
    columns: dict[str, Any] = schema.get("columns") or {}
    named = set(columns) | {e["column"] for e in schema.get("checks") or [] if "column" in e}
    missing = [c for c, spec in columns.items() if spec.get("required", True) and c not in frame.columns]
    absent_optional = [
        c for c, spec in columns.items() if not spec.get("required", True) and c not in frame.columns
    ]
    extra = [str(c) for c in frame.columns if c not in named]
    policy = schema.get("extra_columns", "warn")
    parts, status = [], Status.PASS
    if missing:
        status = Status.FAIL
        parts.append(f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if extra:
        parts.append(
            f"column{'s' if len(extra) > 1 else ''} not in the schema: {', '.join(extra)}"
            + (" (allowed)" if policy == "allow" else "")
        )
        if policy == "fail":
            status = Status.FAIL
        elif policy == "warn" and status is Status.PASS:
            status = Status.WARN
    if absent_optional:
        parts.append(
            f"optional column{'s' if len(absent_optional) > 1 else ''} absent: {', '.join(absent_optional)}"
        )
    why = "; ".join(parts) if parts else f"all {len(columns)} declared columns present, no others"
    return Check(
        "columns",
        status,
        why,
        value=float(len(missing)),
        threshold="required columns present",
        details={"missing": missing, "extra": extra, "absent_optional": absent_optional},
    )


def _column_check(
    name: str, found: list[Problem], rows: int, constraints: str, mostly: float | None = None, judged: int = 0
) -> Check:
    """One check for a column's row rules; with `mostly`, a share of failing values within 1 - mostly passes."""
    if not found:
        return Check(
            name, Status.PASS, f"all {rows} rows meet {constraints}", value=0.0, threshold=constraints
        )
    mask = np.logical_or.reduce([p.mask for p in found])
    count = int(mask.sum())
    details: dict[str, Any] = {"problems": [p.to_dict() for p in found]}
    lead = f"{rows_text(count, 'break')} the schema" if count else "the column breaks the schema"
    why = f"{lead}: " + "; ".join(p.message for p in found)
    if mostly is not None and all(p.check != "nulls" for p in found):
        share = count / judged if judged else 1.0  # as Great Expectations: a share of the non-missing values
        details["failing_share"] = share
        if share <= 1 - mostly:
            return Check(
                name,
                Status.PASS,
                f"{why}; {share:.2%} failing, within mostly {mostly:g}",
                value=float(count),
                threshold=f"{constraints}, mostly {mostly:g}",
                details=details,
            )
        why += f"; {share:.2%} failing, above 1 - mostly {mostly:g}"
    return Check(name, Status.FAIL, why, value=float(count), threshold=constraints, details=details)


def _describe(spec: dict[str, Any], untyped: str = "any type") -> str:
    parts = [spec.get("type", untyped)]
    if spec.get("max_null_rate") is not None:
        parts.append(f"nulls <= {spec['max_null_rate']:g}")
    bounds = [
        f"{word} {spec[k]}"
        for k, word in (("min", ">="), ("above", ">"), ("max", "<="), ("below", "<"))
        if spec.get(k) is not None
    ]
    parts += bounds
    for key in ("allowed", "forbidden", "contains"):
        if spec.get(key) is not None:
            parts.append(f"{len(spec[key])} {key} values")
    for key in ("unique", "pattern", "not_pattern", "monotonic", "max_age"):
        if spec.get(key):
            parts.append(key if spec[key] is True else f"{key} {spec[key]}")
    if spec.get("length"):
        parts.append(f"length in [{spec['length'].get('min', 0)}, {spec['length'].get('max', 'inf')}]")
    return ", ".join(str(p) for p in parts if p)


def _entry(
    frame: pd.DataFrame,
    entry: dict[str, Any],
    index: int,
    judging: Judging,
    now: pd.Timestamp | None,
    hidden: set[str],
) -> list[Check]:
    """The checks of one `checks` entry, named by its `name` and downgraded to warnings by `severity: warn`."""
    rules = {k: v for k, v in entry.items() if k not in (*RULE_MODIFIERS, "tolerance", "skip_missing")}
    column = entry.get("column")
    name = entry.get("name") or (
        f"column:{column}:{'+'.join(rules)}" if column else f"{next(iter(rules))}[{index}]"
    )
    if column is not None:
        if column not in frame.columns:
            checks = [
                Check(
                    name,
                    Status.FAIL,
                    f"column {column!r} is not in the table",
                    threshold=_describe(rules, ""),
                )
            ]
        else:
            series = frame[column]
            found = column_problems(series, rules, column, column in hidden, now)
            row_rules = any(
                k
                not in (
                    "quantiles",
                    "in_set",
                    "mean",
                    "std",
                    "sum",
                    "median",
                    "smallest",
                    "largest",
                    "distinct",
                    "distinct_share",
                )
                for k in rules
            )
            judged = int(series.notna().sum())
            row_check = _column_check(
                name, found, len(frame), _describe(rules, ""), entry.get("mostly"), judged
            )
            checks = [row_check] if row_rules else []
            statistics = column_statistics(series, rules, column, judging)
            for check in statistics if entry.get("name") else ():  # unnamed: column:NAME:STATISTIC
                alone = len(statistics) == 1 and not row_rules
                check.name = name if alone else f"{name}:{check.name.rsplit(':', 1)[-1]}"
            checks += statistics
    else:
        checks = [_table_entry(frame, entry, name, f"checks[{index}] {name}", hidden)]
    if entry.get("severity") == "warn":
        for check in checks:
            if check.status is Status.FAIL:
                check.status, check.why = Status.WARN, f"{check.why} (severity: warn)"
    return checks


def _table_entry(
    frame: pd.DataFrame, entry: dict[str, Any], name: str, label: str, hidden: set[str]
) -> Check:
    """A duplicates or expression entry; columns the table lacks fail the rule (as a suite's would), rather
    than stop the gate."""
    if "duplicates" in entry:
        over = entry["duplicates"] if isinstance(entry["duplicates"], list) else None
        named, threshold = list(over or []), "no duplicate rows"
    else:
        named, threshold = list(parse(entry["expression"], label).columns), entry["expression"]
    absent = [c for c in named if c not in frame.columns]
    if absent:
        shown = ", ".join(map(repr, absent))
        why = f"column{'s' if len(absent) > 1 else ''} {shown} not in the table"
        return Check(name, Status.FAIL, why, threshold=threshold, details={"missing_columns": absent})
    if "duplicates" in entry:
        return _table_check(name, duplicates(frame, over, hidden), threshold)
    tolerance = float(entry.get("tolerance", 0.0))
    outcome = relation(frame, entry["expression"], tolerance, hidden, label, entry.get("skip_missing", "any"))
    return _table_check(name, outcome, threshold, entry.get("mostly"))


def _table_check(name: str, outcome: TableOutcome, threshold: str, mostly: float | None = None) -> Check:
    details = {
        "failing_rows": outcome.failing,
        "judged_rows": outcome.judged,
        "sample": outcome.sample,
        **outcome.details,
    }
    if outcome.judged == 0:
        return Check(
            name, Status.ERROR, f"{outcome.why}: nothing to judge", threshold=threshold, details=details
        )
    status = Status.FAIL if outcome.failing else Status.PASS
    why = outcome.why
    if outcome.failing and mostly is not None:
        share = outcome.failing / outcome.judged
        if share <= 1 - mostly:
            status, why = Status.PASS, f"{why}; {share:.2%} failing, within mostly {mostly:g}"
    return Check(name, status, why, value=float(outcome.failing), threshold=threshold, details=details)


# ------------------------------------------------------------------------------------------------------ run
def resolve_schema(
    section: DataSettings | dict[str, Any], ctx: GateContext
) -> tuple[dict[str, Any] | None, str]:
    """The declared or inferred schema document and where it came from; None when only suites give rules."""
    settings = DataSettings.of(section)
    declared = settings.schema_
    if declared is not None and not isinstance(declared, str):
        document = declared.model_dump(exclude_unset=True)
        return check_schema_document(document, "data.schema"), "inline in the policy"
    schema_path = None
    if declared:
        schema_path = ctx.path(declared, must_exist=False)
        if schema_path.exists():
            ctx.path(declared)  # record its hash as an input
            return load_schema(schema_path), str(schema_path)
    if not settings.infer_from:
        if schema_path is not None:
            raise InputError(
                f"{declared}: schema file not found (set data.infer_from to infer one from a "
                "reference table and save it there)"
            )
        if settings.suite:
            return None, "suites only"
        raise InputError(
            "data: needs a 'schema' (file or inline), 'infer_from' (a reference table) or 'suite'"
        )
    reference_path = ctx.path(settings.infer_from, what="reference table")
    schema = infer_schema(
        read_table(reference_path), settings.infer.range_margin, settings.infer.max_categories
    )
    target = settings.save_schema or declared
    origin = f"inferred from {reference_path}"
    if target:
        path = ctx.path(target, must_exist=False)
        save_schema(path, schema, reference_path.name)
        origin += f", saved to {path}"
    return schema, origin


def _suite_check(suite: Suite, policy: str) -> Check:
    what = "expectations" if suite.kind == "great_expectations" else "checks"
    read = f"{suite.kind} suite {suite.path}" + (
        f" (written by version {suite.version})" if suite.version else ""
    )
    details = {
        "kind": suite.kind,
        "version": suite.version,
        "read": suite.read,
        "unsupported": suite.unsupported,
        "notes": suite.notes,
    }
    notes = f"; notes: {'; '.join(suite.notes)}" if suite.notes else ""
    if not suite.unsupported:
        why = f"{read}: all {suite.read} {what} run as data-gate rules{notes}"
        return Check(
            f"suite:{suite.path}",
            Status.PASS,
            why,
            value=0.0,
            threshold="every rule supported",
            details=details,
        )
    status = Status.ERROR if policy == "error" else Status.WARN
    listed = "; ".join(suite.unsupported)
    why = (
        f"{read}: {len(suite.unsupported)} of {suite.read} {what} not supported and not run: {listed}{notes}"
    )
    return Check(
        f"suite:{suite.path}",
        status,
        why,
        value=float(len(suite.unsupported)),
        threshold="every rule supported",
        details=details,
    )


def _suites(settings: DataSettings, ctx: GateContext) -> list[Suite]:
    return [load_suite(ctx.path(p, what="suite")) for p in settings.suites()]


def _other_tables(
    settings: DataSettings, ctx: GateContext, frame: pd.DataFrame, hidden: set[str]
) -> list[Check]:
    """Row-count change against a reference, and referential checks against other tables."""
    from gates.readers.arrow import read_arrow

    checks = []
    change = settings.row_change
    if change:
        if change.rows is not None:
            reference_rows, where = change.rows, "data.row_change.rows"
        else:
            source = change.reference or settings.infer_from
            if not source:
                raise InputError("data.row_change: needs 'reference' (a table), 'rows', or data.infer_from")
            path = ctx.path(source, what="reference table")
            first = read_arrow(path).column_names[:1]
            reference_rows, where = read_arrow(path, first).num_rows, str(path)
        outcome = row_change(len(frame), reference_rows, change.max_share, where)
        status = Status.FAIL if outcome.failing else Status.PASS
        checks.append(
            Check(
                "row_change",
                status,
                outcome.why,
                value=outcome.details["change"],
                threshold=f"|change| <= {change.max_share:g}",
                details=outcome.details,
            )
        )
    for index, spec in enumerate(settings.references or []):
        path = ctx.path(spec.table, what="referenced table")
        keys = spec.key_columns()
        if len(keys) != len(spec.columns):
            raise InputError(f"data.references[{index}]: 'keys' must name as many columns as 'columns'")
        other = read_table(path, keys)
        outcome = references(frame, spec.columns, other, keys, str(path), hidden)
        name = spec.name or f"references:{'+'.join(spec.columns)}"
        check = _table_check(name, outcome, f"every key in {path.name}")
        if spec.severity == "warn" and check.status is Status.FAIL:
            check.status = Status.WARN
        checks.append(check)
    return checks


def run(section: DataSettings | dict[str, Any], ctx: GateContext) -> GateResult:
    settings = DataSettings.of(section)
    schema, origin = resolve_schema(settings, ctx)
    suites = _suites(settings, ctx)
    for suite in suites:
        schema = merge(schema, suite.schema)
        origin += f" + {suite.kind} suite {suite.path}"
    assert schema is not None  # resolve_schema returns None only when a suite is named
    if settings.rows is not None:
        bounds = settings.rows.model_dump(exclude_none=True)
        schema = {**schema, "rows": {**(schema.get("rows") or {}), **bounds}}
    if settings.extra_columns:
        schema = {**schema, "extra_columns": settings.extra_columns}
    boot = ctx.bootstrap(settings)
    judging = Judging(boot.confidence, boot.resamples, boot.seed, ctx.decide_on(settings))
    now = timestamp(settings.as_of, "data.as_of") if settings.as_of else pd.Timestamp.now(tz="UTC")
    path = ctx.path(settings.table, what="table")
    frame = read_table(path)
    sensitive = set(settings.sensitive or [])
    result = evaluate(frame, schema, str(path), origin, judging, now, sensitive)
    hidden = set(result.evidence["sensitive_columns"])
    result.checks += _other_tables(settings, ctx, frame, hidden)
    result.checks += [_suite_check(s, settings.unsupported) for s in suites]
    result.evidence["clock"] = now.isoformat()
    result.summary = _summary(len(frame), result.checks)
    return result
