"""The two-sample tests and distances of the drift gate, each reading the reference through its profile.

Significance (valid at every pair of sample sizes, so the false-alarm rate is the level whatever the sizes):
- ks: two-sample Kolmogorov-Smirnov for numeric columns. scipy's ks_2samp against an exact profile up to
  SCIPY_EXACT_KS values; above, D from the CDFs and Smirnov's distribution at the effective size
  n*m/(n+m) (scipy's asymptotic method); from quantile points D is the largest gap at those points, a lower
  bound of the exact D, so the p-value errs on the safe side. In the tail at large sizes (see smirnov_tail)
  Maag and Dicaire's closed form stands in for scipy's sum over every row, which cost up to a second a column.
- chisquare: Pearson chi-square on the 2 x K table of reference and current counts, no continuity correction.
  Categories whose expected count is below MIN_EXPECTED on either side are pooled into one cell first
  (Cochran's rule): without pooling, one value of a rare category in a 30-row batch has a chi-square
  contribution near 30 and the test false-alarms. When pooling leaves a single cell, Fisher's exact test of
  the most frequent category against the rest is used instead (valid at any size).
Distances (the effect size a drift must exceed, the tolerance):
- wasserstein: Wasserstein-1 distance divided by the reference std. Exact against an exact profile; from
  quantile points the reference CDF is linear between them (approximate).
- tvd: total variation distance of the category shares (half the L1 distance): the largest share of rows
  that moved between categories, so a 5-point shift is 0.05.
- psi: population stability index over bins / categories; empty bins get EPSILON (as Evidently does).
- jensenshannon: Jensen-Shannon distance (natural log, scipy's default); empty bins contribute 0.
Multiple testing across columns: Benjamini-Hochberg (scipy's false_discovery_control) or Holm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gates.stats.drift_profiles import NumericProfile

EPSILON = 1e-4
MIN_EXPECTED = 5.0
SCIPY_EXACT_KS = 10000  # scipy's ks_2samp computes the exact p-value up to this sample size
# smirnov_tail: from this effective size on, the tail's closed form replaces scipy's O(n) sum (see there)
CLOSED_FORM_KS = 20000
CORRECTIONS = ("bh", "holm", "none")


@dataclass
class TestResult:
    """A significance test on one column: its name, statistic, p-value, and what the report should say."""

    test: str
    statistic: float
    p_value: float
    approximate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def psi(reference: np.ndarray, current: np.ndarray, epsilon: float = EPSILON) -> tuple[float, int]:
    """PSI of two count vectors over the same bins; returns (psi, number of bins set to epsilon)."""
    r = np.asarray(reference, dtype=np.float64) / np.sum(reference)
    c = np.asarray(current, dtype=np.float64) / np.sum(current)
    empty = int(np.sum(r == 0) + np.sum(c == 0))
    r = np.where(r == 0, epsilon, r)
    c = np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r))), empty


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two count vectors; zero shares contribute nothing."""
    p = np.asarray(reference, dtype=np.float64) / np.sum(reference)
    q = np.asarray(current, dtype=np.float64) / np.sum(current)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def total_variation(reference: np.ndarray, current: np.ndarray) -> float:
    """Total variation distance of two count vectors: half the L1 distance of their shares."""
    p = np.asarray(reference, dtype=np.float64) / np.sum(reference)
    q = np.asarray(current, dtype=np.float64) / np.sum(current)
    return float(np.sum(np.abs(p - q)) / 2)


def pool_rare(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Pool the categories whose expected count is below MIN_EXPECTED on either side into one cell, adding the
    next smallest categories until that cell reaches it too; (reference, current, categories pooled)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    totals = ref + cur
    keep = totals > 0
    ref, cur, totals = ref[keep], cur[keep], totals[keep]
    needed = (
        MIN_EXPECTED * totals.sum() / max(1.0, min(ref.sum(), cur.sum()))
    )  # column total for expected >= 5
    order = np.argsort(totals, kind="stable")
    pooled = 0
    while pooled < order.size and totals[order[pooled]] < needed:
        pooled += 1
    while 0 < pooled < order.size and totals[order[:pooled]].sum() < needed:
        pooled += 1
    if pooled <= 1:
        return ref, cur, 0
    rest = order[pooled:]
    return (
        np.append(ref[rest], ref[order[:pooled]].sum()),
        np.append(cur[rest], cur[order[:pooled]].sum()),
        pooled,
    )


def chi_square(reference: np.ndarray, current: np.ndarray) -> TestResult:
    """Pearson chi-square on the 2 x K table after pooling rare categories (Fisher's exact test when one cell
    would remain); see the module docstring."""
    from scipy.stats import chi2, fisher_exact

    ref, cur, pooled = pool_rare(reference, current)
    notes = (
        [f"{pooled} rare categories pooled into one cell (expected count < {MIN_EXPECTED:g})"]
        if pooled
        else []
    )
    if ref.size < 2:
        top = int(np.argmax(np.asarray(reference) + np.asarray(current)))
        r, c = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
        table = np.array([[r[top], r.sum() - r[top]], [c[top], c.sum() - c[top]]]).astype(np.int64)
        if table[:, 1].sum() == 0:
            return TestResult("chisquare", 0.0, 1.0, extra={"dof": 0}, notes=notes)
        odds, p = fisher_exact(table)
        notes.append(
            "too few rows for chi-square: Fisher's exact test, most frequent category against the rest"
        )
        return TestResult("fisher", float(odds), float(p), extra={"dof": 1}, notes=notes)
    table = np.vstack([ref, cur])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return TestResult("chisquare", statistic, float(chi2.sf(statistic, dof)), extra={"dof": dof}, notes=notes)


def sorted_union(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """np.union1d of two sorted arrays without its sort of both: a stable sort of two sorted runs is one
    merge pass (0.3 s of a million-row drift run went to union1d's sorts)."""
    both = np.sort(np.concatenate((first, second)), kind="stable")
    if both.size < 2:
        return both
    return both[np.concatenate(([True], both[1:] != both[:-1]))]


def exact_gap(profile: NumericProfile, current_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(every value of either side, reference CDF minus current CDF there) for an exact profile: what the
    exact KS statistic and the exact Wasserstein distance are both read from, so a caller running both
    builds it once (a sort of the current values) and hands it to each."""
    values, counts = profile.exact_distribution()
    at = sorted_union(values, current_sorted)
    cum: np.ndarray = np.concatenate((np.zeros(1), np.cumsum(counts)))
    reference = cum[np.searchsorted(values, at, side="right")] / profile.count
    return at, reference - np.searchsorted(current_sorted, at, side="right") / current_sorted.size


def ks_asymptotic_p(d: float, n1: int, n2: int) -> float:
    """Smirnov's two-sided p-value at the effective size, as scipy's ks_2samp(method='asymp'), but for its
    tail at large sizes (smirnov_tail)."""
    from scipy.stats import kstwo

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    tail = smirnov_tail(d, en)
    return float(np.clip(tail if tail is not None else kstwo.sf(d, en), 0, 1))


def smirnov_tail(d: float, n: float) -> float | None:
    """The two-sided KS p-value at size n where scipy's kstwo.sf sums over every row, else None.

    In its tail (n > 140, n d^2 >= 2.2) scipy takes twice Smirnov's one-sided probability and computes that
    exactly, a sum of about n terms: 0.9 s at n = 1e6, for every drifted column (80 numeric columns of a
    drifted million-row batch: over a minute). From CLOSED_FORM_KS on, twice Maag and Dicaire's
    approximation exp(-(6nd + 1)^2 / (18n)) stands in for it: never below scipy's value over sizes 2e4..5e5
    and the whole tail (so never an extra alarm), and above it by at most 40/n (relative; 0.2% at 2e4, 0.008%
    at 5e5) where p >= 1e-8, more only far beyond any level (tests/stats/test_ks_tail.py). Scipy's value is
    itself an approximation there: the two-sample null taken at the effective size, off by order 1/sqrt(n)."""
    if n < CLOSED_FORM_KS or n * d * d < 2.2:
        return None
    return 2.0 * float(np.exp(-((6.0 * n * d + 1.0) ** 2) / (18.0 * n)))


def ks_test(
    profile: NumericProfile, current_sorted: np.ndarray, gap: tuple[np.ndarray, np.ndarray] | None = None
) -> TestResult:
    """Two-sample KS of the reference (through its profile) and the sorted current values; `gap` is
    exact_gap's result where the caller has it already (exact profiles only)."""
    n_cur = current_sorted.size
    if profile.exact:
        values, counts = profile.exact_distribution()
        if max(profile.count, n_cur) <= SCIPY_EXACT_KS:
            from scipy.stats import ks_2samp

            result = ks_2samp(np.repeat(values, counts.astype(np.int64)), current_sorted)
            return TestResult("ks", float(result.statistic), float(result.pvalue))
        _, difference = gap if gap is not None else exact_gap(profile, current_sorted)
        d = float(np.max(np.abs(difference)))
        return TestResult("ks", d, ks_asymptotic_p(d, profile.count, n_cur))
    at, below = profile.quantile_points()
    gap_at_points = below / profile.count - np.searchsorted(current_sorted, at, side="right") / n_cur
    d = float(np.max(np.abs(gap_at_points)))
    return TestResult(
        "ks",
        d,
        ks_asymptotic_p(d, profile.count, n_cur),
        approximate=True,
        notes=[
            (
                f"KS from {at.size} reference quantile points: D is the largest gap at those points "
                "(a lower bound of the exact D, so the p-value errs on the safe side)"
            )
        ],
    )


def wasserstein(
    profile: NumericProfile, current_sorted: np.ndarray, gap: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, bool]:
    """Wasserstein-1 distance between the reference (via its profile) and the current values; (w,
    approximate). `gap`: as ks_test's."""
    n_cur = current_sorted.size
    if profile.exact:
        at, difference = gap if gap is not None else exact_gap(profile, current_sorted)
        return float(np.sum(np.abs(difference[:-1]) * np.diff(at))), False
    points, below = profile.quantile_points()
    ref = below / profile.count
    cur = np.searchsorted(current_sorted, points, side="right") / n_cur
    a, b = (ref - cur)[:-1], (ref - cur)[1:]
    width = np.diff(points)
    same_sign = a * b >= 0
    denominator = np.where(same_sign, 1.0, np.abs(a) + np.abs(b))
    inside = np.where(same_sign, (np.abs(a) + np.abs(b)) / 2, (a * a + b * b) / (2 * denominator))
    total = float(np.sum(width * inside))
    # Outside the reference's range its CDF is 0 (below the minimum) or 1 (above the maximum): exact.
    low_count = np.searchsorted(current_sorted, points[0], side="left")
    high_start = np.searchsorted(current_sorted, points[-1], side="right")
    total += float(np.sum(points[0] - current_sorted[:low_count])) / n_cur
    total += float(np.sum(current_sorted[high_start:] - points[-1])) / n_cur
    return total, True


def adjust(p_values: list[float], method: str) -> list[float]:
    """Adjusted p-values across columns: Benjamini-Hochberg (false discovery rate), Holm (family-wise error),
    or none. A column drifts only when its adjusted p-value is below alpha."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown multiple-testing method {method!r} (use one of {', '.join(CORRECTIONS)})")
    if not p_values or method == "none":
        return list(p_values)
    p = np.asarray(p_values, dtype=np.float64)
    if method == "bh":
        from scipy.stats import false_discovery_control

        return [float(x) for x in false_discovery_control(p, method="bh")]
    order = np.argsort(p, kind="stable")
    steps = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return [float(x) for x in adjusted]
