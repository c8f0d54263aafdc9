"""Data-validation gate: a table against a declared schema, or one inferred from a reference table.

A schema (YAML or JSON, or inline in the policy) declares, per column: `type` (integer, number, string,
boolean, datetime), `required` (present; default true), `max_null_rate`, `min` / `max`, `allowed` values,
`unique`; and for the table: `rows: {min, max}` and `extra_columns: allow | warn | fail` (default warn).

Inferred schemas are a starting point to commit and edit, built so that a fresh sample of the same data passes:
types from the reference; `max_null_rate` 0 when the reference has no missing value, else its rate x 1.5 + 0.01;
ranges widened by `range_margin` (default 0.25) of the observed range on each side, never below 0 for a
non-negative column; `allowed` for text / boolean columns with at most `max_categories` (50) values and for
integer columns with two; `unique` (and no range) for integer or text columns whose values are all distinct.
"""

from __future__ import annotations

import decimal
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.readers.table import read_table

GATE = "data"
TYPES = ("integer", "number", "string", "boolean", "datetime")
RANGE_MARGIN = 0.25
MAX_CATEGORIES = 50
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


# ------------------------------------------------------------------------------------------------ schema
def schema_definition() -> dict[str, Any]:
    """The JSON Schema of a schema document: data.json's `schema` key (a path or the schema inline)."""
    from gates.core.policy import _fragment

    fragment = _fragment("data")
    if fragment is None:
        raise RuntimeError("gates/schema/data.json is missing from the installed package")
    return {**fragment["properties"]["schema"], "type": "object"}


def check_schema_document(document: Any, label: str) -> dict[str, Any]:
    from jsonschema import Draft202012Validator

    from gates.core.policy import describe_error

    if not isinstance(document, dict):
        raise InputError(f"{label}: a schema is a mapping with 'columns' (got {type(document).__name__})")
    errors = sorted(
        Draft202012Validator(schema_definition()).iter_errors(document),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        raise InputError(f"{label}: {describe_error(errors[0])}")
    return document


def load_schema(path: Path) -> dict[str, Any]:
    import yaml

    from gates.core import yamlsafe

    if not path.exists():
        raise InputError(f"{path}: schema file not found")
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix.lower() == ".json" else yamlsafe.load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the schema ({str(exc).splitlines()[0]})") from None
    return check_schema_document(document, str(path))


def save_schema(path: Path, schema: dict[str, Any], source: str) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        return
    header = f"# Data schema inferred by mlgate from {source}. Review it, edit it, commit it.\n"
    path.write_text(header + yaml.safe_dump(schema, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _nice(x: float, up: bool) -> float:
    """Round a bound outwards to 4 significant digits, so an inferred schema reads well."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    digits = 3 - math.floor(math.log10(abs(x)))
    scale = 10.0**digits
    value = (math.ceil(x * scale) if up else math.floor(x * scale)) / scale
    return float(round(value, max(digits, 0)))


def infer_type(series: pd.Series) -> str:
    """The schema type of a column; "nested" for list, struct and map columns (no schema type: they are
    checked for presence and nulls only). Object columns are typed by their values: Parquet's nullable
    booleans and decimals arrive as Python objects."""
    if series.dtype == object:
        return _object_kind(series)
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        values = series.dropna().to_numpy()
        return "integer" if values.size and np.all(np.mod(values, 1) == 0) else "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "string"


def _object_kind(series: pd.Series) -> str:
    kinds = {type(v) for v in series.dropna().head(1000)}
    if any(issubclass(k, (list, tuple, dict, np.ndarray)) for k in kinds):
        return "nested"
    if kinds and all(issubclass(k, (bool, np.bool_)) for k in kinds):
        return "boolean"
    if kinds and all(issubclass(k, decimal.Decimal) for k in kinds):
        values = series.dropna()
        return "integer" if all(v == v.to_integral_value() for v in values) else "number"
    return "string"


def comparable(series: pd.Series) -> pd.Series:
    """Nested values (lists, structs, maps) as canonical JSON text, so they can be counted and compared."""
    if series.dtype != object or _object_kind(series) != "nested":
        return series
    return series.map(
        lambda v: None if v is None else json.dumps(_json_ready(v), sort_keys=True, default=str)
    )


def _json_ready(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return _plain(value) if isinstance(value, np.generic) else value


def infer_schema(
    frame: pd.DataFrame, range_margin: float = RANGE_MARGIN, max_categories: int = MAX_CATEGORIES
) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        kind = infer_type(series)
        spec: dict[str, Any] = {"type": kind, "required": True}
        null_rate = float(series.isna().mean())
        spec["max_null_rate"] = (
            0.0 if null_rate == 0 else min(1.0, math.ceil((null_rate * 1.5 + 0.01) * 100) / 100)
        )
        if kind == "nested":  # no schema type holds lists, structs or maps: presence and nulls only
            del spec["type"]
            columns[str(name)] = spec
            continue
        present = series.dropna()
        distinct = present.unique()
        identifier = kind in ("integer", "string") and len(present) >= 2 and len(distinct) == len(present)
        few = (kind in ("string", "boolean") and 0 < len(distinct) <= max_categories) or (
            kind == "integer" and 0 < len(distinct) <= 2
        )
        if kind in ("integer", "number") and len(present) and not identifier and not few:
            low, high = float(present.min()), float(present.max())
            pad = range_margin * (high - low)
            lower, upper = low - pad, high + pad
            if low >= 0:
                lower = max(lower, 0.0)
            if kind == "integer":
                spec["min"], spec["max"] = math.floor(lower), math.ceil(upper)
            else:
                spec["min"], spec["max"] = _nice(lower, up=False), _nice(upper, up=True)
        if few:
            spec["allowed"] = (
                sorted((_plain(v) for v in distinct), key=str)
                if kind != "integer"
                else sorted(int(v) for v in distinct)
            )
        elif identifier:
            spec["unique"] = True
        columns[str(name)] = spec
    return {"columns": columns, "extra_columns": "warn"}


def _plain(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)


# ------------------------------------------------------------------------------------------------- checks
def _key(value: Any) -> str:
    from gates.readers.columns import category_key

    if isinstance(value, (np.bool_, bool)):
        return "true" if value else "false"
    if isinstance(value, np.generic):
        value = value.item()
    return category_key(value)


def _first(mask: np.ndarray, series: pd.Series) -> str:
    row = int(np.flatnonzero(mask)[0])
    return f"first at row {row + 1}: {_show(series.iloc[row])}"


def _show(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _rows(n: int, verb: str = "") -> str:
    """'2 rows', or with a verb in its plural form ('hold') '1 row holds' / '2 rows hold'."""
    if not verb:
        return f"{n} row{'s' if n != 1 else ''}"
    return f"{n} row {verb}s" if n == 1 else f"{n} rows {verb}"


def column_problems(series: pd.Series, spec: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """The constraint violations of one column, in words, and the mask of rows that break any of them."""
    series = comparable(series)
    n = len(series)
    missing = series.isna().to_numpy()
    bad = np.zeros(n, dtype=bool)
    problems: list[str] = []
    kind = spec.get("type")
    numbers: np.ndarray | None = None
    if kind in ("integer", "number"):
        if pd.api.types.is_bool_dtype(series):
            numbers = series.astype(float).to_numpy()
            wrong = ~missing
            problems.append(f"type: expected {kind}, the column holds true/false values")
            bad |= wrong
        else:
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            wrong = np.isnan(numbers) & ~missing
            if kind == "integer":
                wrong |= ~np.isnan(numbers) & (np.mod(np.nan_to_num(numbers), 1) != 0)
            if wrong.any():
                problems.append(
                    f"type: expected {kind}, {_rows(int(wrong.sum()), 'hold')} other values "
                    f"({_first(wrong, series)})"
                )
                bad |= wrong
    elif kind == "boolean" and not pd.api.types.is_bool_dtype(series):
        text = series.astype(str).str.strip().str.lower()
        wrong = ~missing & ~text.isin(_TRUE | _FALSE).to_numpy()
        if wrong.any():
            problems.append(
                f"type: expected boolean, {_rows(int(wrong.sum()), 'hold')} other values "
                f"({_first(wrong, series)})"
            )
            bad |= wrong
    elif kind == "datetime":
        parsed = (
            series
            if pd.api.types.is_datetime64_any_dtype(series)
            else pd.to_datetime(series, errors="coerce", utc=False, format="mixed")
        )
        wrong = parsed.isna().to_numpy() & ~missing
        if wrong.any():
            problems.append(
                f"type: expected datetime, {_rows(int(wrong.sum()))} cannot be read as dates "
                f"({_first(wrong, series)})"
            )
            bad |= wrong
    max_null_rate = spec.get("max_null_rate")
    if max_null_rate is not None and n:
        rate = float(missing.mean())
        if rate > max_null_rate:
            problems.append(
                f"nulls: {_rows(int(missing.sum()))} missing ({rate:.2%}), above max_null_rate "
                f"{max_null_rate:g} (first at row {int(np.flatnonzero(missing)[0]) + 1})"
            )
            bad |= missing
    if numbers is not None:
        for bound, op, word in (("min", np.less, "below"), ("max", np.greater, "above")):
            if spec.get(bound) is None:
                continue
            with np.errstate(invalid="ignore"):
                out = op(numbers, float(spec[bound])) & ~np.isnan(numbers)
            if out.any():
                problems.append(
                    f"range: {_rows(int(out.sum()))} {word} {bound} {spec[bound]:g} ({_first(out, series)})"
                )
                bad |= out
    if spec.get("allowed") is not None:
        allowed = {_key(v) for v in spec["allowed"]}
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        ok = np.array([_key(u) in allowed for u in uniques.tolist()] + [True], dtype=bool)
        out = ~ok[codes]
        if out.any():
            shown = ", ".join(repr(v) for v in spec["allowed"][:10]) + (
                " ..." if len(spec["allowed"]) > 10 else ""
            )
            problems.append(
                f"allowed: {_rows(int(out.sum()), 'hold')} values outside [{shown}] ({_first(out, series)})"
            )
            bad |= out
    if spec.get("unique"):
        duplicated = series.duplicated(keep=False).to_numpy() & ~missing
        if duplicated.any():
            first = int(np.flatnonzero(duplicated)[0])
            value = series.iloc[first]
            rows = np.flatnonzero(duplicated & (series == value).to_numpy())[:3] + 1
            problems.append(
                f"unique: {_rows(int(duplicated.sum()), 'share')} a value with another row "
                f"(for example {_show(value)} at rows {', '.join(map(str, rows))})"
            )
            bad |= duplicated
    return problems, bad


def evaluate(frame: pd.DataFrame, schema: dict[str, Any], where: str, origin: str = "declared") -> GateResult:
    """Pure part of the gate: a frame and a schema in, one check per column plus table checks out."""
    columns: dict[str, Any] = schema.get("columns") or {}
    checks: list[Check] = []
    rows = len(frame)
    bounds = schema.get("rows") or {}
    low, high = bounds.get("min", 1), bounds.get("max")
    text = f">= {low}" + (f" and <= {high}" if high is not None else "")
    if rows < low or (high is not None and rows > high):
        checks.append(
            Check(
                "row_count",
                Status.FAIL,
                f"{rows} rows, outside the bounds ({text})",
                value=float(rows),
                threshold=text,
            )
        )
    else:
        checks.append(
            Check("row_count", Status.PASS, f"{rows} rows ({text})", value=float(rows), threshold=text)
        )
    missing = [c for c, spec in columns.items() if spec.get("required", True) and c not in frame.columns]
    absent_optional = [
        c for c, spec in columns.items() if not spec.get("required", True) and c not in frame.columns
    ]
    extra = [str(c) for c in frame.columns if c not in columns]
    policy = schema.get("extra_columns", "warn")
    parts = []
    status = Status.PASS
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
    declared = len(columns)
    why = "; ".join(parts) if parts else f"all {declared} declared columns present, no others"
    checks.append(
        Check(
            "columns",
            status,
            why,
            value=float(len(missing)),
            threshold="required columns present",
            details={"missing": missing, "extra": extra, "absent_optional": absent_optional},
        )
    )
    table = ["| column | type | nulls | violations | status | problems |", "|---|---|---|---|---|---|"]
    for name, spec in columns.items():
        if name not in frame.columns:
            continue
        series = frame[name]
        problems, bad = column_problems(series, spec)
        count = int(bad.sum())
        null_rate = float(series.isna().mean()) if rows else 0.0
        constraints = _describe(spec)
        if problems:
            check = Check(
                f"column:{name}",
                Status.FAIL,
                f"{_rows(count, 'break')} the schema: " + "; ".join(problems),
                value=float(count),
                threshold=constraints,
                details={"problems": problems},
            )
        else:
            check = Check(
                f"column:{name}",
                Status.PASS,
                f"all {rows} rows meet {constraints}",
                value=0.0,
                threshold=constraints,
            )
        checks.append(check)
        table.append(
            f"| {name} | {spec.get('type', 'any')} | {null_rate:.2%} | {count} | {check.status.value} | "
            + "; ".join(problems).replace("|", "\\|")
            + " |"
        )
    evidence = {
        "table": where,
        "rows": rows,
        "schema_origin": origin,
        "schema": schema,
        "tables": {"Columns against the schema": "\n".join(table)},
    }
    failed = [c.name for c in checks if c.status is Status.FAIL]
    summary = {"rows": rows, "failed-checks": len(failed)}
    return GateResult(gate=GATE, checks=checks, evidence=evidence, summary=summary)


def _describe(spec: dict[str, Any]) -> str:
    parts = [spec.get("type", "any type")]
    if spec.get("max_null_rate") is not None:
        parts.append(f"nulls <= {spec['max_null_rate']:g}")
    if spec.get("min") is not None or spec.get("max") is not None:
        parts.append(f"in [{spec.get('min', '-inf')}, {spec.get('max', 'inf')}]")
    if spec.get("allowed") is not None:
        parts.append(f"{len(spec['allowed'])} allowed values")
    if spec.get("unique"):
        parts.append("unique")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------------------ run
def resolve_schema(section: dict[str, Any], ctx: GateContext) -> tuple[dict[str, Any], str]:
    """The schema to check against, and where it came from (declared file, inline, or inferred)."""
    declared = section.get("schema")
    if isinstance(declared, dict):
        return check_schema_document(declared, "data.schema"), "inline in the policy"
    schema_path = None
    if declared:
        schema_path = ctx.path(declared, must_exist=False)
        if schema_path.exists():
            ctx.path(declared)  # record its hash as an input
            return load_schema(schema_path), str(schema_path)
    if not section.get("infer_from"):
        if schema_path is not None:
            raise InputError(
                f"{declared}: schema file not found (set data.infer_from to infer one from a "
                "reference table and save it there)"
            )
        raise InputError("data: needs a 'schema' (file or inline) or 'infer_from' (a reference table)")
    reference_path = ctx.path(section["infer_from"], what="reference table")
    options = section.get("infer") or {}
    schema = infer_schema(
        read_table(reference_path),
        options.get("range_margin", RANGE_MARGIN),
        options.get("max_categories", MAX_CATEGORIES),
    )
    target = section.get("save_schema") or declared
    origin = f"inferred from {reference_path}"
    if target:
        path = ctx.path(target, must_exist=False)
        save_schema(path, schema, reference_path.name)
        origin += f", saved to {path}"
    return schema, origin


def run(section: dict[str, Any], ctx: GateContext) -> GateResult:
    schema, origin = resolve_schema(section, ctx)
    if section.get("rows"):
        schema = {**schema, "rows": {**(schema.get("rows") or {}), **section["rows"]}}
    if section.get("extra_columns"):
        schema = {**schema, "extra_columns": section["extra_columns"]}
    path = ctx.path(section["table"], what="table")
    frame = read_table(path)
    result = evaluate(frame, schema, str(path), origin)
    return result
