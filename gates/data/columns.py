"""Row-by-row column rules of the data gate: type, nulls, ranges (numbers and dates), allowed and forbidden
values, unique, regular-expression patterns, string length, monotonic order, freshness, required values.

Each rule yields a Problem that says which check failed, how many rows break it and which (at most
SAMPLE_SIZE row numbers and their values), so a reviewer can find the rows without opening the file. A column
marked sensitive shows row numbers only: its values never reach a report, a log or an annotation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gates.core.errors import InputError
from gates.data.regex import search

SAMPLE_SIZE = 5
MONOTONIC = ("increasing", "decreasing", "strictly_increasing", "strictly_decreasing")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Problem:
    """One broken rule of one column: the check, the rows that break it, and a sentence."""

    check: str
    message: str
    mask: np.ndarray  # rows that break it
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return int(self.mask.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "failing_rows": self.rows,
            "sample": self.sample,
            "message": self.message,
        }


# --------------------------------------------------------------------------------------------- wording
def rows_text(n: int, verb: str = "") -> str:
    """'2 rows', or with a verb in its plural form ('hold') '1 row holds' / '2 rows hold'."""
    if not verb:
        return f"{n} row{'s' if n != 1 else ''}"
    return f"{n} row {verb}s" if n == 1 else f"{n} rows {verb}"


def plain(value: Any) -> Any:
    """A JSON-ready Python value (numpy scalars unwrapped, timestamps as ISO text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)
    return value


def sample(mask: np.ndarray, series: pd.Series, sensitive: bool) -> list[dict[str, Any]]:
    """The first SAMPLE_SIZE failing rows (1-based) and, unless the column is sensitive, their values."""
    rows = np.flatnonzero(mask)[:SAMPLE_SIZE]
    if sensitive:
        return [{"row": int(r) + 1} for r in rows]
    return [{"row": int(r) + 1, "value": plain(series.iloc[int(r)])} for r in rows]


def sample_text(items: list[dict[str, Any]], sensitive: bool) -> str:
    if not items:
        return ""
    if sensitive:
        return f"rows {', '.join(str(i['row']) for i in items)}; values hidden: sensitive column"
    return "; ".join(f"row {i['row']}: {i['value']!r}" for i in items)


def problem(check: str, words: str, mask: np.ndarray, series: pd.Series, sensitive: bool) -> Problem:
    """A Problem whose message ends with its sample, in parentheses."""
    items = sample(mask, series, sensitive)
    text = sample_text(items, sensitive)
    return Problem(check, f"{check}: {words}" + (f" ({text})" if text else ""), mask, items)


# -------------------------------------------------------------------------------------------- helpers
def key(value: Any) -> str:
    """Values compare as text, so 1, 1.0 and '1' from CSV, JSON or the policy are one value."""
    from gates.readers.columns import category_key

    if isinstance(value, np.generic):
        value = value.item()
    return category_key(value)


def comparable(series: pd.Series) -> pd.Series:
    """Nested values (lists, structs, maps) as canonical JSON text, so they can be counted and compared."""
    if series.dtype != object:
        return series
    kinds = {type(v) for v in series.dropna().head(1000)}
    if not any(issubclass(k, (list, tuple, dict, np.ndarray)) for k in kinds):
        return series
    return series.map(lambda v: None if v is None else plain(v) if not isinstance(v, str) else v)


def parse_duration(text: Any, label: str) -> float:
    """'36h', '2d', '90m', '1.5w', '30s' in seconds; anything else is an InputError naming `label`."""
    match = _DURATION.match(str(text))
    if not match:
        raise InputError(f"{label}: expected a duration such as '36h', '2d' or '90m', got {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def timestamp(value: Any, label: str) -> pd.Timestamp:
    """An ISO date or date-time as a UTC timestamp (naive ones are taken as UTC)."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise InputError(f"{label}: expected an ISO date or date-time, got {value!r}") from None
    if stamp is pd.NaT:
        raise InputError(f"{label}: expected an ISO date or date-time, got {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def as_datetimes(series: pd.Series) -> pd.Series:
    """The column as UTC timestamps (NaT where a value is not a date)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    return pd.to_datetime(series, errors="coerce", utc=True, format="mixed")


def distinct_text(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code per row, -1 where missing; each distinct value as text): text rules then run once per distinct
    value, not once per row."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = uniques.tolist()  # one conversion: iterating an Arrow-backed array costs a call per value
    return codes, [u if isinstance(u, str) else str(plain(u)) for u in values]


# ------------------------------------------------------------------------------------------------ rules
def column_problems(
    series: pd.Series,
    spec: dict[str, Any],
    name: str,
    sensitive: bool = False,
    now: pd.Timestamp | None = None,
) -> list[Problem]:
    """Every row rule of one column spec that the column breaks, in the order of the spec's keys."""
    series = comparable(series)
    missing = series.isna().to_numpy()
    found: list[Problem] = []
    label = f"column {name!r}"
    numbers: np.ndarray | None = None
    kind = spec.get("type")
    if kind in ("integer", "number"):
        numbers, wrong = _numbers(series, missing, kind)
        if wrong.any():
            found.append(
                problem(
                    "type",
                    f"expected {kind}, {rows_text(int(wrong.sum()), 'hold')} other values",
                    wrong,
                    series,
                    sensitive,
                )
            )
    elif kind == "boolean" and not pd.api.types.is_bool_dtype(series):
        text = series.astype(str).str.strip().str.lower()
        wrong = ~missing & ~text.isin(_TRUE | _FALSE).to_numpy()
        if wrong.any():
            found.append(
                problem(
                    "type",
                    f"expected boolean, {rows_text(int(wrong.sum()), 'hold')} other values",
                    wrong,
                    series,
                    sensitive,
                )
            )
    elif kind == "datetime":
        wrong = as_datetimes(series).isna().to_numpy() & ~missing
        if wrong.any():
            found.append(
                problem(
                    "type",
                    f"expected datetime, {rows_text(int(wrong.sum()))} cannot be read as dates",
                    wrong,
                    series,
                    sensitive,
                )
            )
    max_null_rate = spec.get("max_null_rate")
    if max_null_rate is not None and len(series):
        rate = float(missing.mean())
        if rate > max_null_rate:
            items = sample(missing, series, sensitive=True)  # a missing value has nothing to show
            rows = ", ".join(str(i["row"]) for i in items)
            words = (
                f"{rows_text(int(missing.sum()))} missing ({rate:.2%}), above max_null_rate {max_null_rate:g}"
            )
            found.append(Problem("nulls", f"nulls: {words} (rows {rows})", missing, items))
    found += _bounds(series, spec, numbers, missing, label, sensitive)
    for check, values, inside in (
        ("allowed", spec.get("allowed"), True),
        ("forbidden", spec.get("forbidden"), False),
    ):
        if values is None:
            continue
        wanted = {key(v) for v in values}
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        hit = np.array([key(u) in wanted for u in uniques.tolist()] + [inside], dtype=bool)
        out = ~hit[codes] if inside else hit[codes]
        if out.any():
            shown = ", ".join(repr(v) for v in values[:10]) + (" ..." if len(values) > 10 else "")
            where = "outside" if inside else "in"
            found.append(
                problem(
                    check,
                    f"{rows_text(int(out.sum()), 'hold')} values {where} [{shown}]",
                    out,
                    series,
                    sensitive,
                )
            )
    if spec.get("unique"):
        duplicated = series.duplicated(keep=False).to_numpy() & ~missing
        if duplicated.any():
            found.append(
                problem(
                    "unique",
                    f"{rows_text(int(duplicated.sum()), 'share')} a value with another row",
                    duplicated,
                    series,
                    sensitive,
                )
            )
    found += _text_rules(series, spec, missing, label, sensitive)
    if spec.get("monotonic"):
        found += _monotonic(series, spec["monotonic"], numbers, label, sensitive)
    if spec.get("max_age") is not None:
        found += _freshness(series, spec["max_age"], now, label, sensitive)
    if spec.get("contains"):
        present = {key(u) for u in pd.unique(series.dropna())}
        absent = [v for v in spec["contains"] if key(v) not in present]
        if absent:
            shown = ", ".join(repr(v) for v in absent[:10])
            found.append(
                Problem(
                    "contains",
                    f"contains: {len(absent)} required value"
                    f"{'s' if len(absent) > 1 else ''} never appear{'s' if len(absent) == 1 else ''}:"
                    f" {shown}",
                    np.zeros(len(series), dtype=bool),
                )
            )
    return found


def _numbers(series: pd.Series, missing: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy(), ~missing
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    wrong = np.isnan(numbers) & ~missing
    if kind == "integer":
        wrong |= ~np.isnan(numbers) & (np.mod(np.nan_to_num(numbers), 1) != 0)
    return numbers, wrong


def _bounds(
    series: pd.Series,
    spec: dict[str, Any],
    numbers: np.ndarray | None,
    missing: np.ndarray,
    label: str,
    sensitive: bool,
) -> list[Problem]:
    """min / max (inclusive) and above / below (strict), on numbers or, for string bounds, on dates."""
    found: list[Problem] = []
    limits = [(k, spec[k]) for k in ("min", "above", "max", "below") if spec.get(k) is not None]
    if not limits:
        return found
    dated = any(isinstance(v, str) for _, v in limits) or spec.get("type") == "datetime"
    if dated:
        compare = epoch_nanos(series)
    elif numbers is None:
        compare = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        compare = numbers
    present = ~np.isnan(compare)
    unreadable = ~missing & ~present
    if unreadable.any() and spec.get("type") is None:  # a declared type reports these already
        what = "dates" if dated else "numbers"
        words = (
            f"{rows_text(int(unreadable.sum()), 'hold')} values that are not {what}, so not within the bounds"
        )
        found.append(problem("range", words, unreadable, series, sensitive))
    for bound, limit in limits:
        if dated:
            threshold: Any = float(timestamp(limit, f"{label}: {bound}").value)
            shown = str(limit)
        elif isinstance(limit, str):
            raise InputError(f"{label}: {bound} {limit!r} is a date, but the column holds numbers")
        else:
            threshold, shown = float(limit), f"{limit:g}"
        op, word = {
            "min": (np.less, "below min"),
            "above": (np.less_equal, "not above"),
            "max": (np.greater, "above max"),
            "below": (np.greater_equal, "not below"),
        }[bound]
        out = op(compare, threshold) & present
        if out.any():
            found.append(
                problem("range", f"{rows_text(int(out.sum()))} {word} {shown}", out, series, sensitive)
            )
    return found


def _text_rules(
    series: pd.Series, spec: dict[str, Any], missing: np.ndarray, label: str, sensitive: bool
) -> list[Problem]:
    """pattern / not_pattern (RE2, matching anywhere: anchor with ^ and $) and length bounds, on the values as
    text."""
    if not any(spec.get(k) is not None for k in ("pattern", "not_pattern", "length")):
        return []
    codes, uniques = distinct_text(series)
    found = []
    for check, expected in (("pattern", True), ("not_pattern", False)):
        if spec.get(check) is None:
            continue
        hits = np.append(search(uniques, spec[check], f"{label}: {check}"), False)
        matched = hits[codes]
        out = ~missing & (matched != expected)
        if out.any():
            verb = "not matching" if expected else "matching"
            found.append(
                problem(check, f"{rows_text(int(out.sum()))} {verb} {spec[check]!r}", out, series, sensitive)
            )
    length = spec.get("length")
    if length:
        sizes = np.array([len(u) for u in uniques] + [-1], dtype=np.int64)[codes]
        low, high = length.get("min"), length.get("max")
        out = ~missing & (
            ((sizes < low) if low is not None else False) | ((sizes > high) if high is not None else False)
        )
        if np.any(out):
            bounds = f"[{low if low is not None else 0}, {high if high is not None else 'inf'}]"
            found.append(
                problem(
                    "length",
                    f"{rows_text(int(np.sum(out)))} with a length outside {bounds}",
                    np.asarray(out, dtype=bool),
                    series,
                    sensitive,
                )
            )
    return found


def _monotonic(
    series: pd.Series, direction: str, numbers: np.ndarray | None, label: str, sensitive: bool
) -> list[Problem]:
    """Rows (in file order, nulls skipped) that step against the declared direction from the row before."""
    try:
        values = numbers if numbers is not None else ordered_values(series, label)
    except InputError:  # the data, not the policy, is wrong: a failing rule, not a configuration error
        mask = series.notna().to_numpy()
        words = f"{rows_text(int(mask.sum()), 'hold')} values that are neither all numbers nor all dates"
        return [problem("monotonic", words, mask, series, sensitive)]
    present = np.flatnonzero(~np.isnan(values))
    steps = np.diff(values[present])
    bad_step = {
        "increasing": steps < 0,
        "decreasing": steps > 0,
        "strictly_increasing": steps <= 0,
        "strictly_decreasing": steps >= 0,
    }[direction]
    mask = np.zeros(len(series), dtype=bool)
    mask[present[1:][bad_step]] = True
    if not mask.any():
        return []
    words = direction.replace("_", " ")
    return [
        problem(
            "monotonic", f"{rows_text(int(mask.sum()), 'break')} the {words} order", mask, series, sensitive
        )
    ]


def ordered_values(series: pd.Series, label: str) -> np.ndarray:
    """Numbers, or dates as nanoseconds since 1970 (UTC), as floats with NaN where missing; text that is
    neither is an InputError naming the column."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return epoch_nanos(series)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    present = int(series.notna().sum())
    if pd.api.types.is_numeric_dtype(series) or int((~np.isnan(numbers)).sum()) == present:
        return numbers
    stamps = as_datetimes(series)
    if int(stamps.notna().sum()) == present:
        return epoch_nanos(stamps)
    raise InputError(f"{label}: expected numbers or dates to order, the column holds other values")


def epoch_nanos(series: pd.Series) -> np.ndarray:
    """Timestamps as float nanoseconds since 1970 in UTC (naive ones taken as UTC), NaN where missing."""
    stamps = as_datetimes(series).dt.tz_localize(None)
    raw = stamps.to_numpy(dtype="datetime64[ns]")
    out = raw.astype(np.int64).astype(np.float64)
    out[np.isnat(raw)] = np.nan
    return out


def _freshness(
    series: pd.Series, max_age: Any, now: pd.Timestamp | None, label: str, sensitive: bool
) -> list[Problem]:
    """The newest timestamp must be at most `max_age` before `now` (the run's clock, injectable)."""
    limit = parse_duration(max_age, f"{label}: max_age")
    stamps = as_datetimes(series)
    if stamps.notna().sum() == 0:
        mask = np.ones(len(series), dtype=bool)
        return [
            Problem("freshness", "freshness: no readable timestamp, so the data cannot be shown fresh", mask)
        ]
    clock = now if now is not None else pd.Timestamp.now(tz="UTC")
    newest = stamps.max()
    age = (clock - newest).total_seconds()
    if age <= limit:
        return []
    newest_row = np.zeros(len(series), dtype=bool)
    newest_row[int(np.flatnonzero((stamps == newest).to_numpy())[0])] = True
    shown = "hidden: sensitive column" if sensitive else newest.isoformat()
    return [
        Problem(
            "freshness",
            f"freshness: the newest timestamp ({shown}) is {_age(age)} old at {clock.isoformat()}, older than "
            f"max_age {max_age}; all {rows_text(len(series))} are stale",
            np.ones(len(series), dtype=bool),
            sample(newest_row, series, sensitive),
        )
    ]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
