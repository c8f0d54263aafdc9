"""Regular-expression rules of the data gate, evaluated by RE2 (pyarrow.compute) in time linear in the text.

A pattern comes from a policy or from a third-party suite (Great Expectations, pandera), so it is untrusted
input: with Python's backtracking `re`, `(a+)+$` against 'aaaa…b' takes exponential time and would hang the
gate. RE2 never backtracks, at the price of rejecting backreferences and lookaround; such a pattern is a
configuration error that says RE2 syntax is required, never a silent pass.

Semantics kept from the `re.search` days: a pattern matches anywhere in the value unless anchored with ^ / $.
The Unicode classes `\\d \\w \\s` (and `\\D \\S`, and `\\W` outside brackets) are rewritten to RE2's
Unicode properties, because RE2 reads them as ASCII only and `^\\w+$` would otherwise start failing accented
names. Left different (documented in docs/how-to/data.md): `\\b`, `\\B`, and `\\W` / `\\S` inside brackets are
ASCII in RE2, `$` does not match before a final newline, and `\\Z` is spelled `\\z`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gates.core.errors import InputError

# Python's str-pattern classes written as RE2 Unicode properties: \d is category Nd; \w is str.isalnum()
# (letters and numbers) plus '_'; \s is str.isspace() (the C0 separators, NEL, and the Z categories).
_WORD = r"\p{L}\p{N}_"
_SPACE = r"\t-\r\x1c-\x1f\x85\p{Z}"
_OUTSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
}
_INSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE}


def to_re2(pattern: str) -> str:
    """The pattern with Python's Unicode class escapes spelled for RE2; everything else is left as written."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            letter = pattern[index + 1]
            table = _INSIDE if in_class else _OUTSIDE
            out.append(table.get(letter, char + letter))
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            index += 1
            # a ']' right after '[' or '[^' is a literal member, not the end of the class
            for lead in ("^", "]"):
                if index < len(pattern) and pattern[index] == lead:
                    out.append(lead)
                    index += 1
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def compile_pattern(pattern: Any, label: str) -> str:
    """The pattern as RE2 will run it; an InputError naming the key when RE2 cannot compile it.

    Compiling needs one value: pyarrow compiles lazily, so an empty array would accept any pattern."""
    text = to_re2(str(pattern))
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).removeprefix("Invalid regular expression: ")
        raise InputError(
            f"{label}: not a valid regular expression {pattern!r} "
            f"({reason}; RE2 syntax is required: no backreferences or lookaround)"
        ) from None
    return text


def search(values: list[str], pattern: Any, label: str) -> np.ndarray:
    """Whether each value contains a match of the pattern (re.search semantics), in one RE2 pass."""
    compiled = compile_pattern(pattern, label)
    if not values:
        return np.zeros(0, dtype=bool)
    found = pc.match_substring_regex(pa.array(values, pa.string()), compiled)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
