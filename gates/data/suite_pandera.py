"""pandera DataFrameSchema files (YAML or JSON, as `schema.to_yaml()` / `to_json()` / `pandera.io` write
them) as data-gate rules.

Three shapes of a column's checks are read: flat keys (`greater_than_or_equal_to: 0`, pandera 0.3x
`minimal=True`), a `checks` list of `{value | stats..., options: {check_name, raise_warning, ...}}` entries
(`minimal=False`), and the older `checks: {name: value}` mapping. A column becomes a column spec (type,
`nullable: false` -> no missing values, `unique`, `required`); each built-in check becomes a rule entry named
`pandera:<check>(<column>)`, warning when pandera would only warn (`raise_warning`). Anything the gate cannot
mean the same way (custom checks, `groupby`, `ignore_na: false`, regex column names, index checks,
`drop_invalid_rows`, ordered columns, dataframe-level checks) is listed as unsupported.

Types are judged by value (a column whose values all read as integers is integer), which is what pandera does
with `coerce: true`; without coercion pandera also demands the exact storage dtype, which a CSV cannot carry.
"""

from __future__ import annotations

import re
from typing import Any

from gates.core.errors import InputError
from gates.data.suites import SuiteBuilder

RESERVED = {
    "title",
    "description",
    "dtype",
    "pandas_dtype",
    "nullable",
    "checks",
    "name",
    "unique",
    "coerce",
    "required",
    "regex",
    "default",
    "report_duplicates",
    "drop_invalid_rows",
    "allow_duplicates",
}
OPTION_KEYS = {
    "check_name",
    "ignore_na",
    "raise_warning",
    "n_failure_cases",
    "groupby",
    "groups",
    "error",
    "name",
}
SINGLE = {  # check -> (statistic argument names, column rule from the value)
    "equal_to": ("value",),
    "eq": ("value",),
    "not_equal_to": ("value",),
    "ne": ("value",),
    "greater_than": ("min_value", "value"),
    "gt": ("min_value", "value"),
    "greater_than_or_equal_to": ("min_value", "value"),
    "ge": ("min_value", "value"),
    "less_than": ("max_value", "value"),
    "lt": ("max_value", "value"),
    "less_than_or_equal_to": ("max_value", "value"),
    "le": ("max_value", "value"),
    "isin": ("allowed_values", "value"),
    "notin": ("forbidden_values", "value"),
    "str_matches": ("pattern", "value"),
    "str_contains": ("pattern", "value"),
    "str_startswith": ("string", "value"),
    "str_endswith": ("string", "value"),
    "unique_values_eq": ("values", "value"),
}
TYPES = (  # dtype text (lower case) prefixes -> data-gate type
    ("int", "integer"),
    ("uint", "integer"),
    ("float", "number"),
    ("double", "number"),
    ("decimal", "number"),
    ("bool", "boolean"),
    ("datetime", "datetime"),
    ("timestamp", "datetime"),
    ("date", "datetime"),
    ("str", "string"),
    ("string", "string"),
)
UNTYPED = {"object", "category", "any"}


def convert(document: dict[str, Any], builder: SuiteBuilder, label: str) -> None:
    schema_type = document.get("schema_type", "dataframe")
    if schema_type != "dataframe":
        raise InputError(
            f"{label}: pandera schema_type {schema_type!r} (only dataframe schemas hold columns)"
        )
    columns = document.get("columns")
    if not isinstance(columns, dict):
        raise InputError(f"{label}: pandera 'columns' must be a mapping")
    for name, spec in columns.items():
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise InputError(f"{label}: columns.{name}: expected a mapping")
        _column(str(name), spec, builder)
    _frame(document, builder)


def _frame(document: dict[str, Any], builder: SuiteBuilder) -> None:
    strict = document.get("strict", False)
    builder.strict_columns("fail" if strict is True else "allow")  # 'filter' drops extra columns: allowed
    unique = document.get("unique")
    if unique:
        builder.read += 1
        names = [unique] if isinstance(unique, str) else unique
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            builder.rule("pandera:unique", {"duplicates": names})
        else:
            builder.skip("schema unique", f"expected column names, got {unique!r}")
    for key, ok in (
        ("ordered", False),
        ("drop_invalid_rows", False),
        ("add_missing_columns", False),
        ("unique_column_names", False),
        ("dtype", None),
        ("index", None),
        ("multiindex", None),
    ):
        value = document.get(key)
        if value not in (ok, None, [], {}):
            builder.skip(f"schema {key}", "not supported by the data gate")
    checks = document.get("checks")
    if checks:
        for entry in checks if isinstance(checks, list) else [checks]:
            builder.read += 1
            builder.skip(
                f"dataframe check {_check_name(entry)!r}", "dataframe-level checks are not supported"
            )


def _check_name(entry: Any) -> str:
    if isinstance(entry, dict):
        options = entry["options"] if isinstance(entry.get("options"), dict) else {}
        return str(options.get("check_name") or next(iter(entry), "?"))
    return str(entry)


def _column(name: str, spec: dict[str, Any], builder: SuiteBuilder) -> None:
    where = f"column {name!r}"
    if spec.get("regex"):
        builder.read += 1
        builder.skip(where, "regex column names are not supported")
        return
    column: dict[str, Any] = {"required": bool(spec.get("required", True))}
    dtype = spec.get("dtype", spec.get("pandas_dtype"))
    if dtype is not None:
        kind = _type(str(dtype))
        if kind is None and str(dtype).lower() not in UNTYPED:
            builder.skip(f"{where} dtype", f"{dtype!r} has no data-gate type")
        elif kind is not None:
            column["type"] = kind
    if not spec.get("nullable", False):
        column["max_null_rate"] = 0.0
    if spec.get("unique") or spec.get("allow_duplicates") is False:
        column["unique"] = True
    if spec.get("default") is not None:
        builder.skip(f"{where} default", "filling missing values is not validation")
    if spec.get("drop_invalid_rows"):
        builder.skip(f"{where} drop_invalid_rows", "dropping rows is not validation")
    builder.column(name, **column)
    for check, value, options in _checks(spec):
        builder.read += 1
        try:
            rule = _rule(check, value, options)
        except (ValueError, TypeError, AttributeError) as exc:  # malformed statistics: listed, not run
            builder.skip(f"{where} check {check!r}", str(exc))
            continue
        severity = "warn" if options.get("raise_warning") else "fail"
        builder.rule(f"pandera:{check}({name})", {"column": name, **rule}, severity)


def _type(dtype: str) -> str | None:
    text = dtype.lower().split("[")[0] if not dtype.lower().startswith("datetime") else dtype.lower()
    for prefix, kind in TYPES:
        if text.startswith(prefix):
            return kind
    return None


def _checks(spec: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(check name, statistics, options) in every shape pandera has written."""
    out: list[tuple[str, Any, dict[str, Any]]] = []
    listed = spec.get("checks")
    if isinstance(listed, dict):  # older files: {check_name: value}
        out += [(str(k), v, {}) for k, v in listed.items()]
    elif isinstance(listed, list):
        for entry in listed:
            if not isinstance(entry, dict):
                out.append((str(entry), None, {"unreadable": True}))
                continue
            options = entry["options"] if isinstance(entry.get("options"), dict) else {}
            stats = {k: v for k, v in entry.items() if k != "options"}
            out.append((str(options.get("check_name", "?")), stats, options))
    for key, value in spec.items():  # minimal (flat) files
        if key in RESERVED:
            continue
        options = {}
        if isinstance(value, dict):
            options = {k: v for k, v in value.items() if k in OPTION_KEYS}
            value = {k: v for k, v in value.items() if k not in OPTION_KEYS}
        out.append((str(key), value, options))
    return out


def _rule(check: str, value: Any, options: dict[str, Any]) -> dict[str, Any]:
    if options.get("unreadable"):
        raise ValueError("not a check entry")
    if options.get("groupby") or options.get("groups"):
        raise ValueError("grouped checks are not supported")
    if options.get("ignore_na") is False:
        raise ValueError("ignore_na: false is not supported (missing values are judged by nullable)")
    if check == "in_range":
        return _in_range(value)
    if check == "str_length":
        return _length(value)
    if check not in SINGLE:
        raise ValueError("not a built-in check the data gate supports")
    v = _single(value, SINGLE[check])
    if check in ("equal_to", "eq"):
        return {"allowed": [v]}
    if check in ("not_equal_to", "ne"):
        return {"forbidden": [v]}
    if check in ("greater_than", "gt"):
        return {"above": _scalar(v)}
    if check in ("greater_than_or_equal_to", "ge"):
        return {"min": _scalar(v)}
    if check in ("less_than", "lt"):
        return {"below": _scalar(v)}
    if check in ("less_than_or_equal_to", "le"):
        return {"max": _scalar(v)}
    if check in ("isin", "notin", "unique_values_eq"):
        values = _values(v)
        if check == "unique_values_eq":
            return {"allowed": values, "contains": values}
        return {"allowed" if check == "isin" else "forbidden": values}
    text = str(v) if isinstance(v, (str, int, float)) else _fail("expected text")
    if check == "str_matches":
        return {"pattern": f"^(?:{text})"}  # pandera matches at the start (re.match)
    if check == "str_contains":
        return {"pattern": text}
    if check == "str_startswith":
        return {"pattern": "^" + re.escape(text)}
    return {"pattern": re.escape(text) + "$"}  # str_endswith (RE2: $ is the very end, as str.endswith)


def _fail(message: str) -> Any:
    raise ValueError(message)


def _single(value: Any, names: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        found = [value[n] for n in names if n in value]
        extra = [k for k in value if k not in names]
        if len(found) != 1 or extra:
            raise ValueError(f"unexpected arguments {sorted(value)}")
        return found[0]
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"bound {value!r} is not a number or a date")
    return value


def _values(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of values")
    if any(not isinstance(v, (str, int, float, bool)) for v in value):
        raise ValueError("values must be text, numbers or booleans")
    return value


def _in_range(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("in_range needs min_value and max_value")
    extra = set(value) - {"min_value", "max_value", "include_min", "include_max"}
    if extra or "min_value" not in value or "max_value" not in value:
        raise ValueError(f"unexpected arguments {sorted(value)}")
    low = "min" if value.get("include_min", True) else "above"
    high = "max" if value.get("include_max", True) else "below"
    return {low: _scalar(value["min_value"]), high: _scalar(value["max_value"])}


def _length(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"min_value", "max_value", "exact_value"}:
        raise ValueError("str_length needs min_value / max_value / exact_value")
    exact = value.get("exact_value")
    bounds = (
        {"min": exact, "max": exact}
        if exact is not None
        else {"min": value.get("min_value"), "max": value.get("max_value")}
    )
    bounds = {k: v for k, v in bounds.items() if v is not None}
    if not bounds or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in bounds.values()):
        raise ValueError("str_length bounds must be whole numbers >= 0")
    return {"length": bounds}
