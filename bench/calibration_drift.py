"""Calibration of the drift decision: false-alarm rate without drift and power against a meaningful shift, per
column, over pairs of reference and current sizes from 30 to 10^7 rows, beside Evidently's size rule.

    nice python bench/calibration_drift.py [--quick] [--reps 1000]

Every repetition draws a fresh reference and a fresh current sample from known distributions, so the truth is
known: with no shift every flag is a false alarm; with the shift every miss is a miss.
- numeric: standard normal (continuous, so large references are summarised by quantile points as in real
  runs); the shift moves the mean by 0.2 standard deviations.
- categorical: five categories with shares 40 / 30 / 20 / 9.5 / 0.5 % (one rare, the hard case for
  chi-square on small batches); the shift moves 5 points of share from the first to the second category.
mlgate's rule: the column's test (KS / chi-square) significant at 5% AND the distance above its tolerance
(Wasserstein / std > 0.1, total variation > 0.025); one column per data set, so no correction applies here.
Evidently's rule, as documented: up to 1000 reference rows KS / chi-square p < 0.05, above it
Wasserstein / std >= 0.1 or Jensen-Shannon >= 0.1.
A second table: 20 columns without drift, the share of data sets with at least one drifted column under
Benjamini-Hochberg, Holm and no correction.
Results: bench/results/calibration_drift.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gates.stats import drift as ds
from gates.stats.drift_profiles import CategoricalProfile, profile_numeric
from gates.stats.drift_tests import jensen_shannon

RESULTS = Path(__file__).resolve().parent / "results"
SHARES = np.array([0.40, 0.30, 0.20, 0.095, 0.005])
SHIFTED = SHARES + np.array([-0.05, 0.05, 0, 0, 0])
NAMES = [f"c{i}" for i in range(SHARES.size)]
REFS = [30, 100, 1000, 1001, 10_000, 100_000, 1_000_000]
CURS = [30, 100, 1000, 10_000, 100_000]
HUGE = [(10_000_000, 100), (100, 10_000_000), (1_000_000, 1_000_000)]
MEAN_SHIFT = 0.2


def evidently_flags(kind: str, n_ref: int, r: ds.ColumnDrift, js: float) -> bool:
    """Evidently's documented default rule for one column, from the same statistics."""
    if n_ref <= 1000:
        return r.p_value is not None and r.p_value < 0.05
    return bool((r.distance_value or 0.0) >= 0.1) if kind == "numeric" else js >= 0.1


def one_column(
    kind: str, n_ref: int, n_cur: int, shifted: bool, rng: np.random.Generator
) -> tuple[bool, bool]:
    """(mlgate flags, Evidently flags) for one fresh reference and current sample."""
    if kind == "numeric":
        profile = profile_numeric(rng.standard_normal(n_ref), owned=True)
        current = rng.standard_normal(n_cur) + (MEAN_SHIFT if shifted else 0.0)
        r = ds.compare_numeric("x", profile, current, with_plot=False, owned=True)
        js = 0.0
    else:
        ref_counts = rng.multinomial(n_ref, SHARES)
        cur_counts = rng.multinomial(n_cur, SHIFTED if shifted else SHARES)
        kept = [(n, c) for n, c in zip(NAMES, ref_counts) if c > 0]
        profile = CategoricalProfile(int(n_ref), 0, {n: int(c) for n, c in kept})
        r = ds.compare_categorical("x", profile, NAMES, cur_counts, 0, with_plot=False)
        js = jensen_shannon(ref_counts.astype(float), cur_counts.astype(float))
    ds.decide([r])
    return bool(r.drifted), evidently_flags(kind, n_ref, r, js)


def reps_for(n_ref: int, n_cur: int, reps: int) -> int:
    """Fewer repetitions where one repetition costs seconds (the standard error is printed with each rate)."""
    biggest = max(n_ref, n_cur)
    return reps if biggest <= 100_000 else max(100, reps // (5 if biggest <= 1_000_000 else 10))


def rate(hits: int, n: int) -> dict[str, float]:
    p = hits / n
    return {"rate": p, "se": float(np.sqrt(max(p * (1 - p), 1e-12) / n)), "reps": n}


def grid(reps: int, pairs: list[tuple[int, int]], seed: int) -> list[dict]:
    rows = []
    for kind in ("numeric", "categorical"):
        for n_ref, n_cur in pairs:
            n = reps_for(n_ref, n_cur, reps) if kind == "numeric" else reps  # counts are drawn directly
            rng = np.random.default_rng([seed, n_ref, n_cur, kind == "numeric"])
            started = time.perf_counter()
            row: dict = {"kind": kind, "reference": n_ref, "current": n_cur}
            for label, shifted in (("null", False), ("shift", True)):
                flags = np.array([one_column(kind, n_ref, n_cur, shifted, rng) for _ in range(n)])
                row[f"{label}_mlgate"] = rate(int(flags[:, 0].sum()), n)
                row[f"{label}_evidently"] = rate(int(flags[:, 1].sum()), n)
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def family(reps: int, columns: int, n_ref: int, n_cur: int, seed: int) -> dict:
    """Share of data sets (`columns` undrifted numeric columns) with at least one drifted column."""
    rng = np.random.default_rng([seed, columns, n_ref, n_cur])
    hits = dict.fromkeys(("bh", "holm", "none"), 0)
    for _ in range(reps):
        results = [
            ds.compare_numeric(
                "x", profile_numeric(rng.standard_normal(n_ref)), rng.standard_normal(n_cur), with_plot=False
            )
            for _ in range(columns)
        ]
        for method in hits:
            ds.decide(results := [_fresh(r) for r in results], correction=method)
            hits[method] += any(r.drifted for r in results)
    return {
        "columns": columns,
        "reference": n_ref,
        "current": n_cur,
        **{m: rate(h, reps) for m, h in hits.items()},
    }


def _fresh(r: ds.ColumnDrift) -> ds.ColumnDrift:
    """A copy of a tested column before its verdict, so one draw is judged under each correction."""
    from dataclasses import replace

    return replace(r, status="pending", drifted=None, p_adjusted=None)


def percent(cell: dict) -> str:
    return f"{100 * cell['rate']:.1f}"


def markdown(rows: list[dict], families: list[dict], reps: int, seconds: float) -> str:
    lines = [
        "# Drift decision: false alarms and power by sample size",
        "",
        (
            f"Generated by `bench/calibration_drift.py` ({reps} repetitions per cell, fewer where a sample has "
            f"more than 10^5 rows: see `reps` in the JSON; {seconds:.0f} s). Each cell is the percentage of "
            "repetitions in which the column was flagged; the standard error of a rate near 5% is about "
            f"{100 * np.sqrt(0.05 * 0.95 / reps):.1f} points at {reps} repetitions."
        ),
        "",
        (
            "Numeric: N(0, 1), shift = mean + 0.2 sd. Categorical: shares 40/30/20/9.5/0.5 %, shift = 5 points "
            "from the first category to the second. mlgate: test p < 0.05 AND distance > tolerance "
            "(Wasserstein/std 0.1, total variation 0.025). Evidently: p < 0.05 up to 1000 reference rows, "
            "Wasserstein/std >= 0.1 or Jensen-Shannon >= 0.1 above."
        ),
        "",
        (
            "| kind | reference rows | current rows | false alarms, mlgate % | false alarms, Evidently % "
            "| power, mlgate % | power, Evidently % | reps |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['reference']:,} | {r['current']:,} | {percent(r['null_mlgate'])} | "
            f"{percent(r['null_evidently'])} | {percent(r['shift_mlgate'])} | {percent(r['shift_evidently'])} | "
            f"{r['null_mlgate']['reps']} |"
        )
    worst = max(rows, key=lambda r: r["null_mlgate"]["rate"])
    lines += [
        "",
        (
            f"Largest mlgate false-alarm rate: {percent(worst['null_mlgate'])}% ({worst['kind']}, "
            f"{worst['reference']:,} reference rows, {worst['current']:,} current rows)."
        ),
        "",
        "## Many columns: data sets with at least one false alarm",
        "",
        "| columns | reference rows | current rows | Benjamini-Hochberg % | Holm % | no correction % | reps |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in families:
        lines.append(
            f"| {f['columns']} | {f['reference']:,} | {f['current']:,} | {percent(f['bh'])} | "
            f"{percent(f['holm'])} | {percent(f['none'])} | {f['bh']['reps']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small grid, 200 repetitions (a smoke run)")
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args()
    reps = 200 if args.quick else args.reps
    pairs = [(r, c) for r in REFS for c in CURS]
    if args.quick:
        pairs = [(r, c) for r in (30, 1000, 1001, 100_000) for c in (30, 1000)]
    else:
        pairs += HUGE
    started = time.perf_counter()
    rows = grid(reps, pairs, args.seed)
    families = [
        family(min(reps, 400), 20, n_ref, n_cur, args.seed) for n_ref, n_cur in ((10_000, 100), (1000, 1000))
    ]
    seconds = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    name = "calibration_drift_quick" if args.quick else "calibration_drift"
    (RESULTS / f"{name}.json").write_text(json.dumps({"rows": rows, "families": families}, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(rows, families, reps, seconds))
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
