"""Relations between columns (`start <= end`, `total == a + b`) as a small safe expression language.

Why not `eval` or pandas' `query`: a policy or an imported suite is input, and input must never run code. The
text is parsed by Python's own parser (`ast.parse(mode="eval")`, which builds a tree and runs nothing) and then
every node is checked against a short allow-list and turned into this module's own node tuples; evaluation
walks those tuples with numpy. Nothing is compiled, no attribute or subscript can be reached, and the only
calls are `abs`, `min` and `max`. Sizes are bounded (length, nodes, depth) so no input exhausts the parser.

Language: column names (identifiers, or any name in backticks: `` `unit price` ``), numbers, quoted strings,
`true` / `false`; `+ - * /`, unary minus; comparisons `< <= > >= == !=` (chains allowed); `and`, `or`, `not`;
`abs(x)`, `min(a, b)`, `max(a, b)`. Dates and times are seconds since 1970 (UTC), so `end - start <= 86400`
works. A check's `tolerance` makes `==` mean "within the tolerance" (and `!=` its opposite).

Rows where a column the expression names is missing are not judged (the report counts them); a row whose
arithmetic is undefined (a division by zero) fails.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gates.core.errors import InputError
from gates.data.columns import epoch_nanos

MAX_LENGTH = 2000
MAX_NODES = 300
MAX_DEPTH = 40
FUNCTIONS = {"abs": 1, "min": 2, "max": 2}
_BACKTICK = re.compile(r"`([^`]*)`")
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_PAIRWISE = {"min": np.minimum, "max": np.maximum}
_CONSTANT_NAMES = {"true": True, "false": False, "True": True, "False": False}

# Nodes are tuples: ("col", name) ("num", float) ("str", text) ("bool", b) ("neg", x) ("not", x)
# ("arith", op, a, b) ("cmp", [(op, a, b), ...]) ("and", [x...]) ("or", [x...]) ("call", fn, [args])
Node = tuple


@dataclass(frozen=True)
class Expression:
    """A parsed relation: its text, the columns it reads, and the checked tree."""

    text: str
    columns: tuple[str, ...]
    tree: Node


def parse(text: Any, label: str = "expression") -> Expression:
    """Parse and check an expression; any problem is one InputError line naming `label`."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{label}: expected an expression such as 'start <= end'")
    if len(text) > MAX_LENGTH:
        raise InputError(f"{label}: longer than {MAX_LENGTH} characters")
    names: dict[str, str] = {}

    def quoted(match: re.Match) -> str:
        placeholder = f"_mlgate_col_{len(names)}"
        names[placeholder] = match.group(1)
        return placeholder

    source = _BACKTICK.sub(quoted, text)
    if "`" in source:
        raise InputError(f"{label}: unmatched backtick in {text!r}")
    if "_mlgate_col_" in _BACKTICK.sub("", text):
        raise InputError(f"{label}: names starting with '_mlgate_col_' are reserved")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise InputError(f"{label}: cannot parse {_short(text)} ({reason})") from None
    builder = _Builder(label, text, names)
    node = builder.build(tree.body, 0)
    if not builder.condition(node):
        raise InputError(f"{label}: {_short(text)} is not a condition (expected a comparison such as a <= b)")
    return Expression(text=text, columns=tuple(dict.fromkeys(builder.columns)), tree=node)


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


class _Builder:
    """Turns an allow-listed Python AST into this module's node tuples, counting nodes and depth."""

    def __init__(self, label: str, text: str, names: dict[str, str]) -> None:
        self.label, self.text, self.names = label, text, names
        self.columns: list[str] = []
        self.count = 0

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.label}: {what} in {_short(self.text)}")

    def build(self, node: ast.AST, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise self.fail(f"too large (at most {MAX_NODES} parts, nested {MAX_DEPTH} deep)")
        if isinstance(node, ast.Name):
            if node.id in _CONSTANT_NAMES:
                return ("bool", _CONSTANT_NAMES[node.id])
            name = self.names.get(node.id, node.id)
            self.columns.append(name)
            return ("col", name)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return ("bool", value)
            if isinstance(value, (int, float)) and not isinstance(value, complex):
                if not math.isfinite(float(value)):
                    raise self.fail("a number too large")
                return ("num", float(value))
            if isinstance(value, str):
                return ("str", value)
            raise self.fail(f"a value {value!r} that is not a number or a string")
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return ("neg", operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(node.op, ast.Not):
                return ("not", operand)
            raise self.fail("an operator that is not allowed")
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                raise self.fail("an operator other than + - * /")
            return ("arith", op, self.build(node.left, depth + 1), self.build(node.right, depth + 1))
        if isinstance(node, ast.BoolOp):
            kind = "and" if isinstance(node.op, ast.And) else "or"
            return (kind, [self.build(v, depth + 1) for v in node.values])
        if isinstance(node, ast.Compare):
            parts, left = [], self.build(node.left, depth + 1)
            for comparison, right_node in zip(node.ops, node.comparators):
                symbol = _COMPARE.get(type(comparison))
                if symbol is None:
                    raise self.fail("a comparison other than < <= > >= == !=")
                right = self.build(right_node, depth + 1)
                parts.append((symbol, left, right))
                left = right
            return ("cmp", parts)
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            if name not in FUNCTIONS or node.keywords:
                raise self.fail("a call other than abs(x), min(a, b), max(a, b)")
            if len(node.args) != FUNCTIONS[name]:
                raise self.fail(f"{name}() with {len(node.args)} arguments")
            return ("call", name, [self.build(a, depth + 1) for a in node.args])
        raise self.fail(f"{type(node).__name__.lower()} syntax, which is not allowed")

    def condition(self, node: Node) -> bool:
        kind = node[0]
        if kind in ("cmp", "bool"):
            return True
        if kind == "not":
            return self.condition(node[1])
        if kind in ("and", "or"):
            return all(self.condition(v) for v in node[1])
        return False


# ------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Outcome:
    """Per row: whether the relation holds (`holds`, never where a value is missing), whether every value it
    names is present (`judged`) and whether any is (`any_present`)."""

    holds: np.ndarray
    judged: np.ndarray
    any_present: np.ndarray


def evaluate(expression: Expression, frame: pd.DataFrame, tolerance: float = 0.0, label: str = "") -> Outcome:
    """Evaluate on every row. Unknown columns and type clashes are InputErrors naming the expression."""
    label = label or f"expression {_short(expression.text)}"
    missing = [c for c in expression.columns if c not in frame.columns]
    if missing:
        raise InputError(f"{label}: no column {', '.join(map(repr, missing))} in the table")
    columns: dict[str, np.ndarray] = {}
    judged = np.ones(len(frame), dtype=bool)
    any_present = np.zeros(len(frame), dtype=bool) if expression.columns else np.ones(len(frame), dtype=bool)
    for name in expression.columns:
        values, present = column_values(frame[name])
        columns[name] = values
        judged &= present
        any_present |= present
    walker = _Walker(columns, tolerance, label, len(frame))
    with np.errstate(all="ignore"):
        value = walker.value(expression.tree)
    holds = np.broadcast_to(np.asarray(value, dtype=bool), (len(frame),)) & ~walker.undefined
    return Outcome(holds=holds & judged, judged=judged, any_present=any_present)


def column_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, present): numbers and booleans as float, dates as UTC seconds, anything else as text."""
    present = series.notna().to_numpy()
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), present
    if pd.api.types.is_datetime64_any_dtype(series):
        return epoch_nanos(series) / 1e9, present
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object), present


class _Walker:
    def __init__(self, columns: dict[str, np.ndarray], tolerance: float, label: str, rows: int) -> None:
        self.columns, self.tolerance, self.label = columns, tolerance, label
        self.undefined = np.zeros(rows, dtype=bool)

    def value(self, node: Node) -> Any:
        kind = node[0]
        if kind == "col":
            return self.columns[node[1]]
        if kind in ("num", "str", "bool"):
            return node[1]
        if kind == "neg":
            return -self.number(node[1], "-")
        if kind == "not":
            return ~self.truth(node[1])
        if kind == "and":
            result = self.truth(node[1][0])
            for part in node[1][1:]:
                result = result & self.truth(part)
            return result
        if kind == "or":
            result = self.truth(node[1][0])
            for part in node[1][1:]:
                result = result | self.truth(part)
            return result
        if kind == "arith":
            a, b = self.number(node[2], node[1]), self.number(node[3], node[1])
            out = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}[node[1]](a, b)
            self.undefined |= np.broadcast_to(~np.isfinite(out), self.undefined.shape)
            return out
        if kind == "call":
            args = [self.number(a, node[1] + "()") for a in node[2]]
            return np.abs(args[0]) if node[1] == "abs" else _PAIRWISE[node[1]](*args)
        result = None  # "cmp"
        for op, left, right in node[1]:
            part = self.compare(op, self.value(left), self.value(right))
            result = part if result is None else result & part
        return result

    def truth(self, node: Node) -> Any:
        if node[0] not in ("cmp", "bool", "not", "and", "or"):
            raise InputError(f"{self.label}: 'and', 'or' and 'not' take conditions, not values")
        return np.asarray(self.value(node), dtype=bool)

    def number(self, node: Node, op: str) -> Any:
        value = self.value(node)
        if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object):
            what = f"column {node[1]!r}" if node[0] == "col" else "text"
            raise InputError(f"{self.label}: '{op}' needs numbers, {what} holds text")
        if node[0] in ("cmp", "not", "and", "or"):
            raise InputError(f"{self.label}: '{op}' needs numbers, not a condition")
        return np.asarray(value, dtype=np.float64) if not isinstance(value, float) else value

    def compare(self, op: str, a: Any, b: Any) -> Any:
        text_a, text_b = _is_text(a), _is_text(b)
        if text_a != text_b:
            raise InputError(f"{self.label}: '{op}' compares text with a number")
        if text_a:
            if op not in ("==", "!="):
                raise InputError(f"{self.label}: text can only be compared with == or !=")
            equal = np.asarray(pd.Series(np.broadcast_to(a, self.undefined.shape)) == b, dtype=bool)
            return equal if op == "==" else ~equal
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if op in ("==", "!="):
            equal = np.abs(a - b) <= self.tolerance if self.tolerance else a == b
            return equal if op == "==" else ~equal
        return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[op](a, b)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object)
