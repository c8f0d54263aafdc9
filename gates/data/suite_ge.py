"""Great Expectations expectation suites (JSON, as GE 1.x `ExpectationSuite.to_json_dict()` writes them, and
the 0.x `expectation_type` form) as data-gate rules.

Each supported expectation becomes one rule entry named as GE names it (`expect_column_values_to_match_regex
(email)`), so the report reads like the suite. An expectation is unsupported, and listed, when its type is not
in EXPECTATIONS, when it carries a `row_condition`, an evaluation parameter (`{"$PARAMETER": ...}`), or any
argument its mapping does not read: an argument the gate ignored would change what the expectation means.
GE's `severity` maps to the rule's: critical fails, warning and info warn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gates.core.errors import InputError
from gates.data.suites import SuiteBuilder

# Arguments that change how GE reports, not what it checks.
PRESENTATION = {"result_format", "include_config", "catch_exceptions", "meta", "notes", "batch_id"}
PAIR_SKIP = {"both_values_are_missing": "all", "either_value_is_missing": "any", "neither": "none"}
MULTI_SKIP = {"all_values_are_missing": "all", "any_value_is_missing": "any", "never": "none"}
SEVERITY = {"critical": "fail", "warning": "warn", "info": "warn"}
TYPE_NAMES = {
    "integer": {
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "integer",
        "bigint",
        "smallint",
        "int64dtype",
        "integertype",
        "longtype",
        "inttype",
    },
    "number": {
        "float",
        "float16",
        "float32",
        "float64",
        "double",
        "real",
        "numeric",
        "decimal",
        "floattype",
        "doubletype",
        "number",
    },
    "string": {"str", "string", "object", "varchar", "text", "char", "stringtype", "string_"},
    "boolean": {"bool", "boolean", "bool_", "booleantype"},
    "datetime": {
        "datetime64",
        "datetime64[ns]",
        "datetime",
        "timestamp",
        "date",
        "datetime64[us]",
        "timestamptype",
        "datetype",
    },
}


class _Args:
    """An expectation's kwargs, remembering which ones a mapping read."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs, self.used = kwargs, set(PRESENTATION)

    def get(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        value = self.kwargs.get(name, default)
        return default if value is None else value

    def column(self) -> str:
        column = self.get("column")
        if not isinstance(column, str) or not column:
            raise ValueError("no 'column'")
        return column

    def unread(self) -> list[str]:
        return sorted(k for k, v in self.kwargs.items() if k not in self.used and v not in (None, False, ""))


def _between(args: _Args, low: str = "min", high: str = "max") -> dict[str, Any]:
    """min_value / max_value with strict_min / strict_max, as a column rule's bounds."""
    rule: dict[str, Any] = {}
    if args.get("min_value") is not None:
        rule["above" if args.get("strict_min") and low == "min" else low] = args.get("min_value")
    if args.get("max_value") is not None:
        rule["below" if args.get("strict_max") and high == "max" else high] = args.get("max_value")
    return rule


def _statistic(stat: str) -> Callable[[_Args], dict[str, Any]]:
    def mapping(args: _Args) -> dict[str, Any]:
        if args.get("strict_min") or args.get("strict_max"):
            raise ValueError("strict bounds on a statistic are not supported (judged with an interval)")
        bounds = {
            k: v for k, v in (("min", args.get("min_value")), ("max", args.get("max_value"))) if v is not None
        }
        if not bounds:
            raise ValueError("neither min_value nor max_value")
        return {"column": args.column(), stat: bounds}

    return mapping


def _quantiles(args: _Args) -> dict[str, Any]:
    ranges = args.get("quantile_ranges") or {}
    if not isinstance(ranges, dict):
        raise TypeError("quantile_ranges must be a mapping")
    args.get("allow_relative_error")  # the gate's quantiles are exact: any allowed error is met
    quantiles, values = ranges.get("quantiles") or [], ranges.get("value_ranges") or []
    if not quantiles or len(quantiles) != len(values):
        raise ValueError("quantile_ranges needs as many value_ranges as quantiles")
    rule: dict[str, Any] = {"column": args.column()}
    entries = []
    for q, pair in zip(quantiles, values):
        low, high = (list(pair) + [None, None])[:2]
        bounds = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
        if q == 0 or q == 1:
            rule["smallest" if q == 0 else "largest"] = bounds
        elif bounds:
            entries.append({"q": q, **bounds})
    if entries:
        rule["quantiles"] = entries
    return rule


def _type(args: _Args) -> dict[str, Any]:
    names = [args.get("type_")] if "type_" in args.kwargs else list(args.get("type_list") or [])
    kinds = {k for name in names for k, aliases in TYPE_NAMES.items() if str(name).lower() in aliases}
    if (
        len(kinds) != 1
        or not names
        or any(not any(str(n).lower() in a for a in TYPE_NAMES.values()) for n in names)
    ):
        raise ValueError(f"type {names!r} has no single data-gate type")
    return {"column": args.column(), "type": kinds.pop()}


def _pair(op: Callable[[_Args], str]) -> Callable[[_Args], dict[str, Any]]:
    def mapping(args: _Args) -> dict[str, Any]:
        a, b = args.get("column_A"), args.get("column_B")
        skip = PAIR_SKIP.get(args.get("ignore_row_if", "both_values_are_missing"))
        if skip is None:
            raise ValueError(f"ignore_row_if {args.get('ignore_row_if')!r}")
        text = op(args).format(a=_quote(a), b=_quote(b))
        return {"expression": text, "mostly": args.get("mostly"), "skip_missing": skip}

    return mapping


def _quote(name: Any) -> str:
    if not isinstance(name, str) or not name or "`" in name:
        raise ValueError(f"column name {name!r}")
    return f"`{name}`"


def _multicolumn_sum(args: _Args) -> dict[str, Any]:
    columns, total = args.get("column_list") or [], args.get("sum_total")
    if not columns or isinstance(total, bool) or not isinstance(total, (int, float)):
        raise ValueError("needs column_list and a numeric sum_total")
    skip = MULTI_SKIP.get(args.get("ignore_row_if", "all_values_are_missing"))
    if skip is None:
        raise ValueError(f"ignore_row_if {args.get('ignore_row_if')!r}")
    return {"expression": " + ".join(_quote(c) for c in columns) + f" == {total!r}", "skip_missing": skip}


def _compound_unique(args: _Args) -> dict[str, Any]:
    columns = args.get("column_list") or []
    if not columns:
        raise ValueError("no column_list")
    args.get("ignore_row_if")
    return {"duplicates": list(columns)}


def _regex_list(args: _Args, negate: bool) -> list[dict[str, Any]]:
    patterns = args.get("regex_list") or []
    if not patterns:
        raise ValueError("empty regex_list")
    mostly = args.get("mostly")
    if negate or args.get("match_on", "any") == "any":
        joined = "|".join(f"(?:{p})" for p in patterns)
        return [{"column": args.column(), "not_pattern" if negate else "pattern": joined, "mostly": mostly}]
    return [{"column": args.column(), "pattern": p, "mostly": mostly} for p in patterns]


def _row_rule(**fixed: Callable[[_Args], Any]) -> Callable[[_Args], dict[str, Any]]:
    def mapping(args: _Args) -> dict[str, Any]:
        rule = {"column": args.column(), "mostly": args.get("mostly")}
        rule.update({k: make(args) for k, make in fixed.items()})
        return rule

    return mapping


EXPECTATIONS: dict[str, Callable[[_Args], Any]] = {
    "expect_column_values_to_be_between": lambda a: {
        "column": a.column(),
        **_between(a),
        "mostly": a.get("mostly"),
    },
    "expect_column_values_to_be_in_set": _row_rule(allowed=lambda a: list(a.get("value_set"))),
    "expect_column_values_to_not_be_in_set": _row_rule(forbidden=lambda a: list(a.get("value_set"))),
    "expect_column_values_to_match_regex": _row_rule(pattern=lambda a: a.get("regex")),
    "expect_column_values_to_not_match_regex": _row_rule(not_pattern=lambda a: a.get("regex")),
    "expect_column_values_to_match_regex_list": lambda a: _regex_list(a, negate=False),
    "expect_column_values_to_not_match_regex_list": lambda a: _regex_list(a, negate=True),
    "expect_column_value_lengths_to_be_between": _row_rule(
        length=lambda a: {
            k: v for k, v in (("min", a.get("min_value")), ("max", a.get("max_value"))) if v is not None
        }
    ),
    "expect_column_value_lengths_to_equal": _row_rule(
        length=lambda a: {"min": a.get("value"), "max": a.get("value")}
    ),
    "expect_column_values_to_be_unique": _row_rule(unique=lambda a: True),
    "expect_column_values_to_be_increasing": _row_rule(
        monotonic=lambda a: "strictly_increasing" if a.get("strictly") else "increasing"
    ),
    "expect_column_values_to_be_decreasing": _row_rule(
        monotonic=lambda a: "strictly_decreasing" if a.get("strictly") else "decreasing"
    ),
    "expect_column_values_to_be_of_type": _type,
    "expect_column_values_to_be_in_type_list": _type,
    "expect_column_mean_to_be_between": _statistic("mean"),
    "expect_column_median_to_be_between": _statistic("median"),
    "expect_column_stdev_to_be_between": _statistic("std"),
    "expect_column_sum_to_be_between": _statistic("sum"),
    "expect_column_min_to_be_between": _statistic("smallest"),
    "expect_column_max_to_be_between": _statistic("largest"),
    "expect_column_unique_value_count_to_be_between": _statistic("distinct"),
    "expect_column_proportion_of_unique_values_to_be_between": _statistic("distinct_share"),
    "expect_column_quantile_values_to_be_between": _quantiles,
    "expect_column_distinct_values_to_be_in_set": lambda a: {
        "column": a.column(),
        "allowed": list(a.get("value_set")),
    },
    "expect_column_distinct_values_to_contain_set": lambda a: {
        "column": a.column(),
        "contains": list(a.get("value_set")),
    },
    "expect_column_distinct_values_to_equal_set": lambda a: {
        "column": a.column(),
        "allowed": list(a.get("value_set")),
        "contains": list(a.get("value_set")),
    },
    "expect_column_pair_values_a_to_be_greater_than_b": _pair(
        lambda a: "{a} >= {b}" if a.get("or_equal") else "{a} > {b}"
    ),
    "expect_column_pair_values_to_be_equal": _pair(lambda a: "{a} == {b}"),
    "expect_multicolumn_sum_to_equal": _multicolumn_sum,
    "expect_compound_columns_to_be_unique": _compound_unique,
}


def convert(document: dict[str, Any], builder: SuiteBuilder, label: str) -> None:
    """Walk the suite's expectations into the builder; unsupported ones are recorded, never dropped."""
    expectations = document.get("expectations")
    if not isinstance(expectations, list):
        raise InputError(f"{label}: 'expectations' must be a list")
    for index, item in enumerate(expectations):
        builder.read += 1
        if not isinstance(item, dict):
            raise InputError(f"{label}: expectations[{index}]: expected a mapping")
        kind = item.get("type", item.get("expectation_type"))
        kwargs = item.get("kwargs") if item.get("kwargs") is not None else {}
        if not isinstance(kind, str) or not isinstance(kwargs, dict):
            raise InputError(f"{label}: expectations[{index}]: expected 'type' and 'kwargs'")
        severity = SEVERITY.get(str(item.get("severity") or "critical").lower())
        where = f"expectations[{index}] {kind}" + (
            f" ({kwargs['column']})" if isinstance(kwargs.get("column"), str) else ""
        )
        if severity is None:
            builder.skip(where, f"unknown severity {item.get('severity')!r}")
            continue
        try:
            _one(kind, _Args(kwargs), builder, where, severity)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # malformed arguments: listed
            builder.skip(where, str(exc).strip("'\"") or type(exc).__name__)


def _one(kind: str, args: _Args, builder: SuiteBuilder, where: str, severity: str) -> None:
    if args.kwargs.get("row_condition"):
        raise ValueError("row_condition (a rule on a subset of rows) is not supported")
    if any(isinstance(v, dict) and "$PARAMETER" in v for v in args.kwargs.values()):
        raise ValueError("evaluation parameters ($PARAMETER) are not supported")
    args.get("condition_parser")
    table = _table_rule(kind, args, builder, where, severity)
    if table is None:
        mapping = EXPECTATIONS.get(kind)
        if mapping is None:
            raise ValueError("not supported by the data gate")
        made = mapping(args)
        table = made if isinstance(made, list) else [made]
    unread = args.unread()
    if unread:
        raise ValueError(f"argument{'s' if len(unread) > 1 else ''} {', '.join(unread)} not supported")
    named = [args.kwargs.get(k) for k in ("column", "column_A", "column_B")] + list(
        args.kwargs.get("column_list") or []
    )
    shown = ", ".join(str(c) for c in named if isinstance(c, str))
    name = kind + (f"({shown})" if shown else "")
    for rule in table:
        rule = {k: v for k, v in rule.items() if v is not None}
        if rule.get("mostly") == 1:
            rule.pop("mostly")
        builder.rule(name, rule, severity)


def _table_rule(kind: str, args: _Args, builder: SuiteBuilder, where: str, severity: str) -> list | None:
    """Expectations about the table's shape go to the schema's columns and row bounds (always failing)."""
    if kind not in (
        "expect_column_to_exist",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_column_values_to_not_be_null",
        "expect_column_proportion_of_non_null_values_to_be_between",
    ):
        return None
    if kind == "expect_column_values_to_not_be_null":
        return [{"column": args.column(), "max_null_rate": round(1 - float(args.get("mostly", 1.0)), 12)}]
    if kind == "expect_column_proportion_of_non_null_values_to_be_between":
        if args.get("max_value") not in (None, 1, 1.0):
            raise ValueError("an upper bound on the non-null share is not supported")
        return [{"column": args.column(), "max_null_rate": round(1 - float(args.get("min_value", 0.0)), 12)}]
    if severity != "fail":
        builder.notes.append(f"{where}: severity {severity} not applied (a table-shape rule always fails)")
    if kind == "expect_column_to_exist":
        if args.get("column_index") is not None:
            raise ValueError("column_index (column order) is not supported")
        builder.column(args.column(), required=True)
    elif kind == "expect_table_columns_to_match_set":
        columns = args.get("column_set") or []
        for column in columns:
            builder.column(str(column), required=True)
        builder.strict_columns("fail" if args.get("exact_match", True) else "allow")
    elif kind == "expect_table_row_count_to_equal":
        builder.bound_rows(args.get("value"), args.get("value"))
    else:
        builder.bound_rows(args.get("min_value"), args.get("max_value"))
    return []
