"""Table rules of the data gate: duplicate rows, relations between columns, row-count change against a
reference, and referential integrity (every key of this table present in another).

Relations are expressions of gates.data.expressions (parsed, never evaluated as Python). Keys compare by
value; when the two tables hold a key in different types (text in a CSV, integers in Parquet) both sides
compare as canonical text, so '7' and 7 are one key, as values are everywhere else in the gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gates.core.errors import InputError
from gates.data.columns import SAMPLE_SIZE, comparable, key, plain, rows_text
from gates.data.expressions import evaluate, parse


@dataclass
class TableOutcome:
    """A table rule's result: failing rows among those judged, a sentence, and a sample (values of
    sensitive columns left out)."""

    failing: int
    judged: int
    why: str
    sample: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def row_sample(frame: pd.DataFrame, mask: np.ndarray, columns: list[str], sensitive: set[str]) -> list[dict]:
    """The first failing rows (1-based) with the values of the named columns; sensitive ones say 'hidden'."""
    out = []
    for row in np.flatnonzero(mask)[:SAMPLE_SIZE]:
        values = {c: ("<hidden>" if c in sensitive else plain(frame[c].iloc[int(row)])) for c in columns}
        out.append({"row": int(row) + 1, "values": values})
    return out


def sample_words(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    shown = "; ".join(
        f"row {i['row']}: "
        + ", ".join(f"{c}={v!r}" if v != "<hidden>" else f"{c} hidden" for c, v in i["values"].items())
        for i in items
    )
    return f" ({shown})"


def duplicates(frame: pd.DataFrame, columns: list[str] | None, sensitive: set[str]) -> TableOutcome:
    """Rows that share the values of `columns` (all columns when None) with another row."""
    names = list(frame.columns) if not columns else columns
    absent = [c for c in names if c not in frame.columns]
    if absent:
        raise InputError(f"duplicates: no column {', '.join(map(repr, absent))} in the table")
    keyed = pd.DataFrame({c: comparable(frame[c]) for c in names})
    mask = keyed.duplicated(keep=False).to_numpy()
    failing = int(mask.sum())
    groups = int(keyed[mask].drop_duplicates().shape[0]) if failing else 0
    over = "all columns" if not columns else "columns " + ", ".join(columns)
    if not failing:
        return TableOutcome(0, len(frame), f"no two of {rows_text(len(frame))} share the values of {over}")
    items = row_sample(frame, mask, names[:8], sensitive)
    why = (
        f"duplicates: {rows_text(failing)} in {groups} group{'s' if groups != 1 else ''} share the values of "
        f"{over}" + sample_words(items)
    )
    return TableOutcome(failing, len(frame), why, items, {"groups": groups})


MISSING = {"any": "a value missing", "all": "every value missing", "none": ""}


def relation(
    frame: pd.DataFrame, text: str, tolerance: float, sensitive: set[str], label: str, skip: str = "any"
) -> TableOutcome:
    """Rows where the expression does not hold. `skip` says which rows with missing values are not judged:
    `any` (a value missing: the default), `all` (every named value missing; a row with only some missing
    fails, as Great Expectations' default for column pairs), or `none` (every row judged, missing fails)."""
    expression = parse(text, label)
    outcome = evaluate(expression, frame, tolerance, label)
    judged_mask = {
        "any": outcome.judged,
        "all": outcome.any_present,
        "none": np.ones(len(frame), dtype=bool),
    }[skip]
    mask = judged_mask & ~outcome.holds
    judged = int(judged_mask.sum())
    skipped = len(frame) - judged
    note = f"; {rows_text(skipped)} not judged ({MISSING[skip]})" if skipped else ""
    within = f" within {tolerance:g}" if tolerance else ""
    if judged == 0:
        return TableOutcome(0, 0, f"{text!r}: no row has every value it needs{note}")
    failing = int(mask.sum())
    if not failing:
        return TableOutcome(
            0,
            judged,
            f"{text!r}{within} holds on all {rows_text(judged)} judged{note}",
            details={"not_judged": skipped},
        )
    items = row_sample(frame, mask, list(expression.columns), sensitive)
    why = f"{text!r}{within} fails on {rows_text(failing)} of {judged}{note}" + sample_words(items)
    return TableOutcome(failing, judged, why, items, {"not_judged": skipped})


def references(
    frame: pd.DataFrame,
    columns: list[str],
    other: pd.DataFrame,
    keys: list[str],
    where: str,
    sensitive: set[str],
) -> TableOutcome:
    """Rows whose key (all of `columns` present) is not a key of `other` (its `keys` columns)."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise InputError(f"references: no column {', '.join(map(repr, absent))} in the table")
    missing_keys = [c for c in keys if c not in other.columns]
    if missing_keys:
        raise InputError(f"{where}: no column {', '.join(map(repr, missing_keys))} to look keys up in")
    judged_mask = frame[columns].notna().all(axis=1).to_numpy()
    mine = _key_tuples(frame[columns], [other[k] for k in keys])
    theirs = set(_key_tuples(other[keys].dropna(), [frame[c] for c in columns]))
    found = np.fromiter((k in theirs for k in mine), dtype=bool, count=len(mine))
    mask = judged_mask & ~found
    failing, judged = int(mask.sum()), int(judged_mask.sum())
    target = f"{where} ({', '.join(keys)})"
    if judged == 0:
        return TableOutcome(0, 0, f"no row has a complete key in {', '.join(columns)}")
    if not failing:
        return TableOutcome(0, judged, f"all {rows_text(judged)} with a key find it in {target}")
    distinct = len({mine[i] for i in np.flatnonzero(mask)})
    items = row_sample(frame, mask, columns, sensitive)
    why = (
        f"references: {rows_text(failing)} of {judged} hold a key absent from {target}, {distinct} distinct "
        f"key{'s' if distinct != 1 else ''}" + sample_words(items)
    )
    return TableOutcome(failing, judged, why, items, {"distinct_missing_keys": distinct})


def _key_tuples(part: pd.DataFrame, counterpart: list[pd.Series]) -> list[tuple]:
    """Row keys as tuples; a column compares as canonical text when its counterpart has another kind."""
    columns: list[list[Any]] = []
    for (_, series), other in zip(part.items(), counterpart):
        kinds = {(t(series), t(other)) for t in (pd.api.types.is_numeric_dtype, pd.api.types.is_bool_dtype)}
        same = all(x == y for x, y in kinds)
        if same and pd.api.types.is_numeric_dtype(series):
            columns.append([float(v) if pd.notna(v) else None for v in series])
        else:
            columns.append([key(v) if pd.notna(v) else None for v in series])
    return list(zip(*columns))


def row_change(rows: int, reference_rows: int, max_share: float, where: str) -> TableOutcome:
    """The row count may differ from the reference's by at most `max_share` of it, either way."""
    if reference_rows <= 0:
        raise InputError(f"{where}: the reference has no rows")
    change = (rows - reference_rows) / reference_rows
    word = "more" if change >= 0 else "fewer"
    why = (
        f"{rows} rows, {abs(change):.1%} {word} than the reference's {reference_rows} ({where}); "
        f"at most {max_share:.1%} allowed"
    )
    return TableOutcome(int(abs(change) > max_share), 1, why, details={"change": change})
