"""Schema documents of the data gate: their JSON Schema, reading and writing them, and inferring one from a
reference table.

A document (YAML or JSON, or inline in the policy) holds `columns` (per column: type, required, sensitive,
nulls, ranges, values, patterns, lengths, order, freshness, statistics), table `rows` bounds, `extra_columns`,
and `checks` (more column rules with `mostly`, duplicates, relations). The JSON Schema generated from
gates.core.settings.data.SchemaDocument checks the shape; `check_schema_document` then checks what a schema cannot: that regular
expressions compile, expressions parse, dates and durations read, so a bad rule is a one-line error before any
data is read rather than a traceback halfway.

Inferred schemas are a starting point to commit and edit, built so that a fresh sample of the same data passes:
types from the reference; `max_null_rate` 0 when the reference has no missing value, else its rate x 1.5 + 0.01;
ranges widened by `range_margin` (default 0.25) of the observed range on each side, never below 0 for a
non-negative column; `allowed` for text / boolean columns with at most `max_categories` (50) values and for
integer columns with two; `unique` (and no range) for integer or text columns whose values are all distinct.
"""

from __future__ import annotations

import decimal
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gates.core.errors import InputError
from gates.core.settings.data import Infer

TYPES = ("integer", "number", "string", "boolean", "datetime")
# the defaults of inference, held by the `data.infer` settings
RANGE_MARGIN = Infer().range_margin
MAX_CATEGORIES = Infer().max_categories
RULE_MODIFIERS = ("column", "mostly", "name", "severity")
TABLE_RULES = ("duplicates", "expression")


def _definition(model: str) -> dict[str, Any]:
    """One settings model's part of the generated policy schema, with the definitions its references need."""
    from gates.core.settings.schema import policy_schema

    definitions = policy_schema()["$defs"]
    return {**definitions[model], "$defs": definitions}


@functools.lru_cache(maxsize=1)
def schema_definition() -> dict[str, Any]:
    """The JSON Schema of a schema document (the SchemaDocument settings model, as inline under data.schema)."""
    return _definition("SchemaDocument")


@functools.lru_cache(maxsize=1)
def column_definition() -> dict[str, Any]:
    """The JSON Schema of one column's rules (the keys of `columns.NAME` and of a column entry in `checks`)."""
    return _definition("ColumnRules")


def _first_error(schema: dict[str, Any], document: Any, label: str, prefix: str = "") -> None:
    from gates.core.policy import describe_error
    from gates.core.settings.schema import validator

    errors = sorted(validator(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        text = describe_error(errors[0])
        raise InputError(f"{label}: {prefix}{text}")


def check_schema_document(document: Any, label: str) -> dict[str, Any]:
    """The document if its shape and every rule in it are sound, else an InputError naming the key."""
    if not isinstance(document, dict):
        raise InputError(f"{label}: a schema is a mapping with 'columns' (got {type(document).__name__})")
    _first_error(schema_definition(), document, label)
    for name, spec in (document.get("columns") or {}).items():
        check_rules(spec, f"{label}: columns.{name}")
    for index, entry in enumerate(document.get("checks") or []):
        where = f"checks[{index}]"
        rules = {k: v for k, v in entry.items() if k not in RULE_MODIFIERS}
        table = [k for k in TABLE_RULES if k in entry]
        if "column" in entry:
            if table:
                raise InputError(f"{label}: {where}: a column rule cannot hold {table[0]!r}")
            if not rules:
                raise InputError(f"{label}: {where}: names a column but no rule (pattern, min, mean, ...)")
            _first_error(column_definition(), rules, label, f"{where}.")
            check_rules(rules, f"{label}: {where}")
        else:
            if len(table) != 1:
                raise InputError(
                    f"{label}: {where}: expected 'column' with column rules, 'duplicates' or 'expression'"
                )
            extra = [k for k in rules if k not in (*TABLE_RULES, "tolerance", "skip_missing")]
            if "skip_missing" in entry and "expression" not in entry:
                extra.append("skip_missing")
            if extra or ("mostly" in entry and "expression" not in entry):
                raise InputError(
                    f"{label}: {where}: unknown key {(extra or ['mostly'])[0]!r} for a table rule"
                )
            if "expression" in entry:
                from gates.data.expressions import parse

                parse(entry["expression"], f"{label}: {where}.expression")
    return document


def check_rules(spec: dict[str, Any], label: str) -> None:
    """What the JSON Schema cannot check: patterns compile, dates and durations read, bounds fit the type."""
    from gates.data.columns import parse_duration, timestamp
    from gates.data.regex import compile_pattern

    for key in ("pattern", "not_pattern"):
        if spec.get(key) is not None:
            compile_pattern(spec[key], f"{label}.{key}")
    if spec.get("max_age") is not None:
        parse_duration(spec["max_age"], f"{label}.max_age")
    for key in ("min", "max", "above", "below"):
        value = spec.get(key)
        if isinstance(value, str):
            if spec.get("type") in ("integer", "number"):
                raise InputError(f"{label}.{key}: a date bound on a {spec['type']} column")
            timestamp(value, f"{label}.{key}")
    length = spec.get("length") or {}
    if length.get("min") is not None and length.get("max") is not None and length["min"] > length["max"]:
        raise InputError(f"{label}.length: min {length['min']} is above max {length['max']}")


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
