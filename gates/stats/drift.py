"""Per-column drift decisions: which test and distance a column gets, and when it drifts.

A column drifts when two things hold (Evidently's rule switched from p-values to fixed distances at 1000
reference rows and ignored the current sample's size; this one needs no switch):
- significance: the column's two-sample test (KS for numeric, chi-square for categorical, see
  gates.stats.drift_tests) rejects "same distribution" at level `alpha` after the multiple-testing
  correction across columns (Benjamini-Hochberg by default, Holm or none selectable). The test's null
  distribution is right at every pair of sizes, so without drift a column is flagged at most `alpha` of the
  time, from 30 rows to millions on either side, and the chance changes smoothly with both sizes;
- relevance: the distance (Wasserstein / reference std for numeric, total variation for categorical; PSI or
  Jensen-Shannon selectable) exceeds the tolerance. On millions of rows every shift is significant; the
  tolerance keeps trivial ones from counting as drift.
The measured false-alarm rates and power curves are in docs/drift.md (bench/calibration_drift.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from gates.stats.drift_profiles import CategoricalProfile, NumericProfile, bin_counts, finite_sorted
from gates.stats.drift_tests import (
    EPSILON,
    TestResult,
    adjust,
    chi_square,
    exact_gap,
    jensen_shannon,
    ks_test,
    psi,
    total_variation,
    wasserstein,
)

MIN_ROWS = 30
ALPHA = 0.05
CORRECTION = "bh"
NUMERIC_DISTANCES = ("wasserstein", "psi", "jensenshannon")
CATEGORICAL_DISTANCES = ("tvd", "psi", "jensenshannon")
DEFAULT_DISTANCE = {"numeric": "wasserstein", "categorical": "tvd"}
DEFAULT_TOLERANCES = {"wasserstein": 0.1, "tvd": 0.025, "psi": 0.1, "jensenshannon": 0.1}
DISTANCE_TITLES = {
    "wasserstein": "Wasserstein / reference std",
    "tvd": "total variation",
    "psi": "PSI",
    "jensenshannon": "Jensen-Shannon distance",
}
TEST_TITLES = {"ks": "Kolmogorov-Smirnov", "chisquare": "chi-square", "fisher": "Fisher's exact test"}
CORRECTION_TITLES = {"bh": "Benjamini-Hochberg", "holm": "Holm", "none": "no correction"}

STATUSES = {
    "pending": "tested; the verdict waits for decide (the correction across columns)",
    "no_drift": "no drift: not significant, or within the tolerance",
    "drift": "significant and larger than the tolerance",
    "constant": "the reference holds one value",
    "all_null": "every value is missing (in the reference: not judged; in the current data only: drift)",
    "tiny_sample": "fewer non-missing values than min_rows on one side: not judged",
    "unseen_categories": "no drift, but the current data holds categories the reference never had",
    "type_mismatch": "the current column cannot be read as the reference's kind (for example text for numbers)",
    "invalid_test": "the configured distance does not apply to this kind of column",
    "missing": "the column is not in the current data",
    "skipped": "the reference column cannot be summarised (identifier-like text, unsupported type)",
}


@dataclass
class ColumnDrift:
    """The outcome for one column: a named status, whether it drifted (None: not judged), and why.

    Test and distance are filled by compare_numeric / compare_categorical; `decide` then sets the adjusted
    p-value, the verdict and the reason, because the correction needs every column's p-value."""

    column: str
    kind: str
    status: str  # see STATUSES
    drifted: bool | None
    reason: str
    test: str | None = None
    statistic: float | None = None  # the test's statistic (KS D, chi-square)
    p_value: float | None = None
    p_adjusted: float | None = None
    alpha: float | None = None
    correction: str | None = None
    distance: str | None = None
    distance_value: float | None = None
    tolerance: float | None = None
    approximate: bool = False
    reference_count: int = 0
    reference_nulls: int = 0
    current_count: int = 0
    current_nulls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plot: dict[str, Any] | None = None  # histogram data; the drift gate reports drifted columns' (evidence)
    critical: bool = False

    @property
    def threshold(self) -> float | None:
        """The tolerance, under the name the histogram picture reads."""
        return self.tolerance

    def to_dict(self) -> dict[str, Any]:
        keys = [
            "column",
            "kind",
            "status",
            "drifted",
            "reason",
            "test",
            "statistic",
            "p_value",
            "p_adjusted",
            "alpha",
            "correction",
            "distance",
            "distance_value",
            "tolerance",
            "approximate",
            "reference_count",
            "reference_nulls",
            "current_count",
            "current_nulls",
        ]
        out = {k: getattr(self, k) for k in keys}
        if self.extra:
            out["extra"] = self.extra
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class _Counts(TypedDict):
    """The value counts every ColumnDrift carries, passed on as keyword arguments."""

    reference_count: int
    reference_nulls: int
    current_count: int
    current_nulls: int


def _degenerate(
    column: str, kind: str, distance: str, allowed: tuple[str, ...], counts: _Counts, min_rows: int
) -> ColumnDrift | None:
    """The cases no test can judge, the same for both kinds: a distance for the other kind, an empty side, too
    few values. An empty current column is drift (the feature stopped arriving); the others are not judged."""
    ref_n, cur_n = counts["reference_count"], counts["current_count"]
    if distance not in allowed:
        reason = f"distance '{distance}' does not apply to a {kind} column (use one of {', '.join(allowed)})"
        return ColumnDrift(column, kind, "invalid_test", None, reason, **counts)
    if ref_n == 0:
        reason = f"the reference has no values ({counts['reference_nulls']} missing), so there is nothing to compare with"
        return ColumnDrift(column, kind, "all_null", None, reason, **counts)
    if cur_n == 0:
        reason = f"every current value is missing ({counts['current_nulls']} rows); the reference has {ref_n} values"
        return ColumnDrift(column, kind, "all_null", True, reason, **counts)
    if ref_n < min_rows or cur_n < min_rows:
        reason = f"too few values to judge ({ref_n} reference, {cur_n} current; minimum {min_rows})"
        return ColumnDrift(column, kind, "tiny_sample", None, reason, **counts)
    return None


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _judged(
    column: str,
    kind: str,
    test: TestResult,
    distance: str,
    value: float,
    tolerance: float,
    counts: _Counts,
    notes: list[str],
    extra: dict[str, Any],
) -> ColumnDrift:
    """A tested column whose verdict waits for `decide` (the correction needs every column's p-value)."""
    return ColumnDrift(
        column,
        kind,
        "pending",
        None,
        "",
        test=test.test,
        statistic=test.statistic,
        p_value=test.p_value,
        distance=distance,
        distance_value=value,
        tolerance=tolerance,
        approximate=test.approximate,
        extra={**test.extra, **extra},
        notes=notes + test.notes,
        **counts,
    )


def _binned(distance: str, ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, list[str]]:
    """A distance over bins or categories, with a note on empty bins (how each distance treats them)."""
    empty = int(np.sum(ref_counts == 0) + np.sum(cur_counts == 0))
    plural = empty != 1
    if distance == "psi":
        value, _ = psi(ref_counts, cur_counts)
        return value, [
            f"{empty} empty bin{'s' if plural else ''} set to epsilon {EPSILON:g}"
        ] if empty else []
    if distance == "tvd":
        return total_variation(ref_counts, cur_counts), []
    verb = "s contribute" if plural else " contributes"
    return jensen_shannon(ref_counts, cur_counts), [
        f"{empty} empty bin{verb} 0 (no epsilon needed)"
    ] if empty else []


def compare_numeric(
    column: str,
    profile: NumericProfile,
    current: np.ndarray,
    distance: str | None = None,
    tolerance: float | None = None,
    min_rows: int = MIN_ROWS,
    with_plot: bool = True,
    owned: bool = False,
) -> ColumnDrift:
    """KS test and distance of one numeric column against the reference profile (verdict: `decide`).
    `owned`: the array is the caller's to reorder (sorted in place, no copy)."""
    cur, cur_nulls = finite_sorted(current, owned)
    counts: _Counts = {
        "reference_count": profile.count,
        "reference_nulls": profile.nulls,
        "current_count": int(cur.size),
        "current_nulls": cur_nulls,
    }
    distance = distance or DEFAULT_DISTANCE["numeric"]
    early = _degenerate(column, "numeric", distance, NUMERIC_DISTANCES, counts, min_rows)
    if early is not None:
        return early
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if profile.std == 0:
        value = profile.min
        if cur[0] == value and cur[-1] == value:
            reason = f"constant ({_fmt(value)}) in both reference and current"
            return ColumnDrift(column, "numeric", "constant", False, reason, **counts)
        if distance == "wasserstein":
            notes.append(
                f"the reference is constant ({_fmt(value)}), so the Wasserstein distance cannot be normalised by "
                "its std; the distance is the total variation of (= value, other), the share of other values"
            )
            distance = "tvd"
        extra["reference_constant"] = value
    # both read the exact CDF gap of an exact profile: built once (a sort of the current values)
    gap = exact_gap(profile, cur) if profile.exact and distance == "wasserstein" else None
    test = ks_test(profile, cur, gap)
    if distance == "wasserstein":
        value, approximate = wasserstein(profile, cur, gap)
        measured = value / profile.std
        extra = {"wasserstein": value, "reference_std": profile.std}
        if approximate:
            test.approximate = True
            notes.append(
                f"Wasserstein from {profile.quantile_points()[0].size} reference quantile points, the CDF "
                "linear between them"
            )
    elif distance == "tvd":  # a constant reference: the share of values other than its one
        same = float(np.count_nonzero(cur == profile.min))
        measured = total_variation(np.array([profile.count, 0.0]), np.array([same, cur.size - same]))
    else:
        measured, binned_notes = _binned(distance, profile.bin_counts, bin_counts(cur, profile.bin_edges))
        notes += [f"{profile.bin_edges.size + 1} bins at reference quantiles", *binned_notes]
    tol = DEFAULT_TOLERANCES[distance] if tolerance is None else float(tolerance)
    out = _judged(column, "numeric", test, distance, measured, tol, counts, notes, extra)
    if with_plot:
        out.plot = numeric_plot(profile, cur)
    return out


def compare_categorical(
    column: str,
    profile: CategoricalProfile,
    categories: list[str],
    counts: np.ndarray,
    nulls: int,
    distance: str | None = None,
    tolerance: float | None = None,
    min_rows: int = MIN_ROWS,
    with_plot: bool = True,
) -> ColumnDrift:
    """Chi-square test and distance of one categorical column's counts against the reference profile."""
    current = {c: int(n) for c, n in zip(categories, counts) if n > 0}
    cur_total = int(sum(current.values()))
    info: _Counts = {
        "reference_count": profile.count,
        "reference_nulls": profile.nulls,
        "current_count": cur_total,
        "current_nulls": int(nulls),
    }
    distance = distance or DEFAULT_DISTANCE["categorical"]
    early = _degenerate(column, "categorical", distance, CATEGORICAL_DISTANCES, info, min_rows)
    if early is not None:
        return early
    names = list(profile.categories) + sorted(set(current) - set(profile.categories))
    ref_counts = np.array([profile.categories.get(c, 0) for c in names], dtype=np.float64)
    cur_counts = np.array([current.get(c, 0) for c in names], dtype=np.float64)
    unseen = [c for c in names if c not in profile.categories]
    if len(profile.categories) == 1 and not unseen:
        reason = f"constant ({names[0]!r}) in both reference and current"
        return ColumnDrift(column, "categorical", "constant", False, reason, **info)
    notes: list[str] = []
    if unseen:
        share = float(sum(current[c] for c in unseen) / cur_total)
        shown = ", ".join(repr(c) for c in unseen[:5]) + (
            f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
        )
        notes.append(f"categories unseen in the reference: {shown} ({share:.2%} of current rows)")
    if len(profile.categories) == 1:
        notes.append(f"the reference is constant ({names[0]!r})")
    measured, binned_notes = _binned(distance, ref_counts, cur_counts)
    tol = DEFAULT_TOLERANCES[distance] if tolerance is None else float(tolerance)
    out = _judged(
        column,
        "categorical",
        chi_square(ref_counts, cur_counts),
        distance,
        measured,
        tol,
        info,
        notes + binned_notes,
        {"unseen": unseen},
    )
    if with_plot:
        out.plot = {
            "kind": "categorical",
            "categories": names,
            "reference": (ref_counts / ref_counts.sum()).tolist(),
            "current": (cur_counts / cur_counts.sum()).tolist(),
        }
    return out


def decide(results: list[ColumnDrift], alpha: float = ALPHA, correction: str = CORRECTION) -> None:
    """Set the verdict of every tested column in place: adjusted p-value below alpha AND distance above the
    tolerance. The correction runs over the tested columns of this list (one family)."""
    tested = [r for r in results if r.status == "pending"]
    p_values = [
        float(r.p_value) for r in tested if r.p_value is not None
    ]  # 0.0 is a p-value (underflow), not "none"
    assert len(p_values) == len(tested), "a tested column without a p-value"
    for r, p, p_adj in zip(tested, p_values, adjust(p_values, correction)):
        assert r.distance is not None and r.distance_value is not None and r.tolerance is not None
        r.p_adjusted, r.alpha, r.correction = p_adj, alpha, correction
        significant = p_adj < alpha
        large = r.distance_value > r.tolerance
        r.drifted = significant and large
        p_text = f"{TEST_TITLES[r.test or 'ks']} p {_fmt(p)}"
        if correction != "none":
            p_text += f" ({CORRECTION_TITLES[correction]} {_fmt(p_adj)})"
        d_text = f"{DISTANCE_TITLES[r.distance]} {_fmt(r.distance_value)}"
        if r.drifted:
            r.reason = f"drift: {p_text} < {alpha:g} and {d_text} > tolerance {r.tolerance:g}"
        elif not significant:
            r.reason = f"no drift: {p_text} >= {alpha:g} ({d_text})"
        else:
            r.reason = f"no drift: {p_text} < {alpha:g}, but {d_text} within tolerance {r.tolerance:g}"
        unseen = r.extra.get("unseen")
        if r.drifted:
            r.status = "drift"
        elif unseen:
            r.status = "unseen_categories"
            r.reason += f"; {len(unseen)} categor{'ies' if len(unseen) > 1 else 'y'} unseen in the reference"
        else:
            r.status = "constant" if "reference_constant" in r.extra else "no_drift"
        if "reference_constant" in r.extra:
            r.reason = f"the reference is constant ({_fmt(r.extra['reference_constant'])}); {r.reason}"
        if not r.drifted:
            r.plot = None


def numeric_plot(profile: NumericProfile, cur: np.ndarray, bins: int = 40) -> dict[str, Any]:
    """Histogram densities of reference (from its profile) and current on one shared grid."""
    if profile.exact:
        low = min(profile.min, float(cur[0]))
        high = max(profile.max, float(cur[-1]))
    else:
        points, below = profile.quantile_points()
        low = min(
            float(np.interp(0.005, below / profile.count, points)),
            float(cur[int(0.005 * (cur.size - 1))]),
        )
        high = max(
            float(np.interp(0.995, below / profile.count, points)),
            float(cur[int(0.995 * (cur.size - 1))]),
        )
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    if profile.exact:
        values, counts = profile.exact_distribution()
        ref_hist = np.histogram(values, bins=edges, weights=counts)[0]
    else:
        points, below = profile.quantile_points()
        cdf = np.interp(edges, points, below / profile.count, left=0.0, right=1.0)
        ref_hist = np.diff(cdf) * profile.count
    cur_hist = np.diff(np.searchsorted(cur, edges, side="left")).astype(np.float64)  # cur is sorted
    cur_hist[-1] += np.count_nonzero(cur == edges[-1])
    width = edges[1] - edges[0]
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "reference": (ref_hist / max(profile.count, 1) / width).tolist(),
        "current": (cur_hist / max(cur.size, 1) / width).tolist(),
    }
