"""Typed access to the fields of a scanner's JSON report, so a wrong type is a one-line error naming its place.

Every vulnerability reader walks untrusted JSON; these helpers turn "this should be a list of objects" into an
InputError that says where, instead of an AttributeError deep inside a reader.
"""

from __future__ import annotations

import math
from typing import Any

from gates.core.errors import InputError

_KIND_WORDS: dict[type, str] = {list: "a list", dict: "an object", str: "a string"}


def expect(value: Any, kind: type, where: str) -> Any:
    """`value` of the given kind, an empty one when absent (JSON null counts as absent), else an InputError."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InputError(
            f"{where}: expected {_KIND_WORDS.get(kind, kind.__name__)}, got {type(value).__name__}"
        )
    return value


def objects(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """A list of JSON objects, each with its place (`where[3]`) for the error messages of the caller."""
    out = []
    for n, item in enumerate(expect(value, list, where)):
        out.append((f"{where}[{n}]", expect(item, dict, f"{where}[{n}]")))
    return out


def text(value: Any) -> str | None:
    """A string field as text; numbers are accepted (versions written as 1.2), anything else is absent."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: Any) -> float | None:
    """A finite score from a number or a numeric string ("8.1"); anything else is absent."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def first_line(value: Any, limit: int = 200) -> str | None:
    """The first line of a description, shortened: titles in tables and SARIF messages stay one line."""
    words = text(value)
    return words.split("\n")[0][:limit] or None if words else None
