"""pydantic's validation errors in the policy's words: `key.path: expected ..., got ...`, one line per problem.

A policy file is checked against the generated JSON Schema first (gates.core.policy), so these errors mostly
reach users through settings built in code (`Settings.part`, `Section.of` on flags or on a mapping a caller
made), and they must read like the schema's: same key paths, same "expected ... got ..." sentences, and a value
that fits no branch of a union is one line naming every branch, not one line per branch.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

Path = tuple[str | int, ...]

_TYPES = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_BUILTIN_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})
_KEYED = re.compile(r"^([a-z_][a-z0-9_]*): (.+)$", re.DOTALL)


def pydantic_problems(error: ValidationError, prefix: Path = ()) -> list[str]:
    """Every problem of a ValidationError, one line each (`key.path: what was expected, got what`).

    pydantic names the union branch it tried in a location (`bool`, `literal['auto']`, `Streaming`): the name is
    left out of the key path. When the value got inside one branch (a mapping for a model), the other branches'
    "wrong type" errors at that key are dropped; when it fitted none, their expectations make one line."""
    from gates.core.errors import log_safe
    from gates.core.policy import key_path

    items = [_item(detail, prefix) for detail in error.errors(include_url=False)]
    inside = {path[: len(path) - depth] for path, depth, _, _ in items if depth > 0}
    mismatches: dict[Path, list[str]] = {}
    shown: dict[Path, Any] = {}
    lines: list[tuple[Path, str]] = []
    for path, depth, text, value in items:
        if depth == 0 and path in inside:
            continue  # another branch fitted the value: its own error is the one that says something
        if depth == 0 and text.startswith("expected "):
            if path not in mismatches:
                lines.append((path, ""))  # filled in below, in this place of the order
            mismatches.setdefault(path, []).append(text.removeprefix("expected ").split(", got ")[0])
            shown[path] = value
            continue
        lines.append((path, text))
    found: list[str] = []
    for path, text in lines:
        if not text:
            text = f"expected {' or '.join(dict.fromkeys(mismatches[path]))}, got {show(shown[path])}"
        where = key_path(path)
        line = log_safe(f"{where}: {text}" if where else text)
        if line not in found:
            found.append(line)
    return found


def _item(detail: ErrorDetails, prefix: Path) -> tuple[Path, int, str, Any]:
    """(key path, keys past a union branch name or -1 when there was none, sentence, the value)."""
    parts: list[str | int] = []
    past_branch = -1
    for part in detail["loc"]:
        if isinstance(part, str) and _is_branch_tag(part):
            past_branch = 0
            continue
        parts.append(part)
        if past_branch >= 0:
            past_branch += 1
    path: Path = (*prefix, *parts)
    kind, value, context = detail["type"], detail.get("input"), detail.get("ctx") or {}
    if kind in ("missing", "extra_forbidden") and path:
        key, path = path[-1], path[:-1]
        past_branch = max(-1, past_branch - 1)
        word = "missing required key" if kind == "missing" else "unknown key"
        return path, past_branch, f"{word} {str(key)!r}", value
    text = sentence(kind, value, context, str(detail["msg"]))
    keyed = _KEYED.match(text) if kind == "value_error" else None
    if keyed:  # a model's own check about one of its keys (`key: problem`): the key joins the path
        return (*path, keyed.group(1)), past_branch, keyed.group(2), value
    return path, past_branch, text, value


def sentence(kind: str, value: Any, context: dict[str, Any], message: str) -> str:
    """What was expected, for one pydantic error type (pydantic's own message for the rare others)."""
    got = f", got {show(value)}"
    if kind in _TYPES:
        return f"expected {_TYPES[kind]}{got}"
    if kind in _BOUNDS:
        bound = next(iter(context.values()), "?")
        return (
            f"expected a value {_BOUNDS[kind]} {bound:g}{got}" if isinstance(bound, (int, float)) else message
        )
    if kind == "literal_error":
        options = re.split(r", | or ", str(context.get("expected", "")))
        return f"expected one of {', '.join(o for o in options if o)}{got}"
    if kind in ("too_short", "string_too_short"):
        low = context.get("min_length", 1)
        return "must not be empty" if low == 1 else f"expected at least {low} items{got}"
    if kind in ("too_long", "string_too_long"):
        return f"expected at most {context.get('max_length')} items{got}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {context.get('pattern')}{got}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    return message.removeprefix("Assertion failed, ")


def show(value: Any) -> str:
    """A value as the error lines show it: repr for scalars, JSON for lists and mappings, cut at 60 characters."""
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_branch_tag(part: str) -> bool:
    """pydantic names union branches in locations, e.g. `list[str]`, `literal['auto']`, `Streaming`."""
    from gates.core.settings.base import model_names

    return any(mark in part for mark in "[](") or part in _BUILTIN_TAGS or part in model_names()
