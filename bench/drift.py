"""Benchmark: drift of 100 columns (80 numeric, 20 categorical text), reference vs current, 1e6 rows each.

    python bench/drift.py [--rows 1000000] [--repeats 3] [--evidently-repeats 1]
    python bench/drift.py --quick   # mlgate's rows against the floor, 5 runs each; fails when a CPU-time
                                    # ratio is over 1.25x the stored one (bench/results/drift.json)

Peers, each in its own process:
- Evidently 0.7.23's DataDriftPreset with Wasserstein / std >= 0.1 for numeric and Jensen-Shannon >= 0.1 for
  categorical columns; mlgate runs with the same distances as its tolerances (Jensen-Shannon chosen for the
  text columns with --distance) and adds its KS / chi-square significance test, so the per-column distances
  compare one to one. Evidently runs with the interpreter of a separate environment
  (Evidently does not import with pandas 3): ~/.cache/mlgate/evidently-venv/bin/python, or
  MLGATE_EVIDENTLY_PYTHON. Without it the row says "skipped: no evidently env".
- scipy called per column (ks_2samp per numeric column, chi-square per categorical column);
- reading both files whole with pyarrow (the floor).
mlgate runs as users run it: `mlgate drift` on the raw reference, and on a profile stored once with
`mlgate drift profile`, also on the DuckDB engine (what summarises a reference of many files or beyond
memory; its profile is the local one). The per-column statistics of mlgate and Evidently are compared in the same run.
The jobs run with compiled bytecode, as an installed package has it (bench/common.py's BYTECODE). A full run
stores each mlgate row's CPU-time ratio to the floor (least user + system time over the runs); --quick
measures them again and fails on a regression, as bench/scale.py --quick does for the engines.
Results: bench/results/drift.md (and .json). `--peaks-only` re-measures, once each, only the peak memory of the
quick rows (the floor and the four mlgate commands), as a check beside the stored peaks, and writes the table
again with a note on how far apart they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BYTECODE,
    EVIDENTLY_PYTHON,
    RESULTS,
    Measurement,
    Run,
    drift_files,
    load,
    machine,
    measure,
    ratio_text,
    regressions,
    seconds_text,
)

QUICK_RUNS = 5
CPU_RATIO_ROWS = ("mlgate", "profile", "profile_duckdb", "stored")  # each against the floor's CPU time

HERE = Path(__file__).resolve().parent


def mlgate_values(report_dir: Path) -> dict[str, float]:
    """Each column's distance (Wasserstein / std, Jensen-Shannon: the statistics Evidently thresholds)."""
    report = json.loads((report_dir / "drift.json").read_text())["gates"][0]
    return {
        c["column"]: c["distance_value"]
        for c in report["evidence"]["columns"]
        if c.get("distance_value") is not None
    }


def mlgate_drifted(report_dir: Path) -> list[str]:
    return sorted(json.loads((report_dir / "drift.json").read_text())["gates"][0]["evidence"]["drifted"])


def jensen_shannon_flags(reference: Path) -> list[str]:
    """`--distance COLUMN=jensenshannon` for every text column, so the categorical distance is Evidently's."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(reference)
    text = [f.name for f in schema if str(f.type) in ("string", "large_string")]
    return [flag for name in text for flag in ("--distance", f"{name}=jensenshannon")]


def cell(m: Measurement, ours: float | None) -> str:
    text = seconds_text(m)
    if m.ok:
        text += f", {m.peak_text}"
        if ours:
            text += f"; **{ratio_text(m.median / ours)}**"
    return text


ROWS = [
    ("read both files whole with pyarrow (the floor)", "floor", False),
    (
        "**mlgate drift** (raw reference; KS and chi-square, with Wasserstein / std and Jensen-Shannon tolerances)",
        "mlgate",
        False,
    ),
    ("mlgate drift profile (summarise the reference once)", "profile", False),
    (
        "mlgate drift profile --engine duckdb (the same profile, as for references beyond one file)",
        "profile_duckdb",
        False,
    ),
    ("**mlgate drift** against the stored profile (reads only the current data)", "stored", True),
    ("Evidently 0.7.23 DataDriftPreset, same tests (report.run + Dataset build)", "evidently", True),
    ("scipy per column: ks_2samp (numeric) + chi-square (categorical)", "scipy", True),
]


def mlgate_jobs(reference: Path, current: Path, folder: Path) -> dict[str, tuple[str, list[str]]]:
    """key: (label, argv) of the floor and the mlgate commands, in the order they must run (the stored
    profile is written by the second and read by the third)."""
    raw, stored, profile = folder / "raw", folder / "stored", folder / "reference-profile.json"
    same_distances = jensen_shannon_flags(reference)
    return {
        "floor": (
            "floor",
            [sys.executable, str(HERE / "drift_jobs.py"), "floor", str(reference), str(current)],
        ),
        "mlgate": (
            "mlgate drift",
            [
                "mlgate",
                "--no-audit",
                "--report-dir",
                str(raw),
                "drift",
                "--reference",
                str(reference),
                "--current",
                str(current),
                "--no-plots",
                *same_distances,
            ],
        ),
        "profile": (
            "mlgate drift profile",
            [
                "mlgate",
                "--no-audit",
                "--report-dir",
                str(raw),
                "drift",
                "profile",
                "--reference",
                str(reference),
                "--out",
                str(profile),
            ],
        ),
        "profile_duckdb": (
            "mlgate drift profile --engine duckdb",
            [
                "mlgate",
                "--no-audit",
                "drift",
                "profile",
                "--reference",
                str(reference),
                "--engine",
                "duckdb",
                "--out",
                str(folder / "reference-profile-duckdb.json"),
            ],
        ),
        "stored": (
            "mlgate drift (stored profile)",
            [
                "mlgate",
                "--no-audit",
                "--report-dir",
                str(stored),
                "drift",
                "--reference",
                str(profile),
                "--current",
                str(current),
                "--no-plots",
                *same_distances,
            ],
        ),
    }


def runs_json(m: Measurement) -> dict:
    return {
        "label": m.label,
        "runs": [(r.seconds, r.peak_mb, r.code, r.peak_exact, r.cpu_seconds) for r in m.runs],
        "skipped": m.skipped,
    }


def cpu_ratios(results: dict[str, Measurement]) -> dict[str, float]:
    """Each mlgate row's least CPU time over the floor's least. The least, not the median: on this machine
    (a VM) a process that allocates memory just freed by another pays up to ten times its CPU time in the
    kernel, and the floor, which allocates 2.6 GB, right after an mlgate run took 6-8 s instead of 0.9 s."""
    floor = min(r.cpu_seconds for r in results["floor"].runs)
    return {
        key: min(r.cpu_seconds for r in results[key].runs) / floor
        for key in CPU_RATIO_ROWS
        if results[key].ok
    }


def quick(rows: int, stored_path: Path) -> int:
    """--quick: the floor and the mlgate rows QUICK_RUNS times each, as a full run measures them; their
    CPU-time ratios against the stored ones."""
    stored = json.loads(stored_path.read_text()).get("cpu_ratios") if stored_path.exists() else None
    if not stored:
        print(f"no stored CPU-time ratios in {stored_path}: run without --quick first", file=sys.stderr)
        return 2
    reference, current = drift_files(rows)
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            key: measure(label, argv, QUICK_RUNS, env=BYTECODE)
            for key, (label, argv) in mlgate_jobs(reference, current, Path(tmp)).items()
        }
    if not all(m.ok for m in results.values()):
        return 2
    print(f"load average {load()[0]:.2f} (1 min)")
    spreads = {
        key: "runs {:.2f}-{:.2f} s".format(*results[key].spread) for key in CPU_RATIO_ROWS if key in results
    }
    return 1 if regressions(cpu_ratios(results), stored, spreads, "mlgate / floor CPU") else 0


def from_json(key: str, stored: dict) -> Measurement:
    runs = [
        Run(
            r[0], r[1], r[2], peak_exact=r[3] if len(r) > 3 else True, cpu_seconds=r[4] if len(r) > 4 else 0.0
        )
        for r in stored["runs"]
    ]
    return Measurement(stored.get("label", key), runs=runs, skipped=stored.get("skipped", ""))


def render(data: dict) -> str:
    results = {k: from_json(k, v) for k, v in data["results"].items()}
    comparison = data.get("comparison") or {}
    (load_before, load_after), rows = data["load"], data.get("rows", 1_000_000)
    mine = results["mlgate"].median if results["mlgate"].ok else None
    lines = [
        "# Drift benchmark",
        "",
        (
            f"{data.get('machine', '')}. Run {data['started']}; load average {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after (1 min). {rows:,} reference rows and {rows:,} current rows, 100 columns "
            f"(80 numeric, 20 categorical text), Parquet. Median of {data.get('repeats', 3)} runs (range), "
            f"Evidently {data.get('evidently_repeats', 1)} run(s). After the semicolon: how many times longer "
            "than `mlgate drift`."
        ),
        "",
        "| work | wall time, peak memory |",
        "|---|---|",
    ]
    for title, key, ratio in ROWS:
        lines.append(f"| {title} | {cell(results[key], mine if ratio else None)} |")
    if comparison:
        lines += [
            "",
            (
                f"Same run, mlgate vs Evidently per-column statistics: {comparison.get('columns')} columns, "
                f"largest absolute difference {comparison.get('max_abs_difference', float('nan')):.2g}; "
                f"drifted columns identical: {comparison.get('same_drifted')} "
                f"({len(comparison.get('mlgate_drifted', []))} columns). Stored profile vs raw reference: "
                f"largest difference {comparison.get('profile_max_abs_difference', float('nan')):.2g}."
            ),
        ]
    if data.get("peaks"):
        lines += ["", data["peaks"]["note"]]
    return "\n".join(lines) + "\n"


def remeasure_peaks(out: Path, rows: int) -> None:
    """Peak memory of the floor and the mlgate commands again, one run each, as the job's own (kept beside the
    table's peaks as `peak_check`); the note under the table says how far apart they are."""
    stored = out.with_suffix(".json")
    data = json.loads(stored.read_text())
    reference, current = drift_files(rows)
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    data.setdefault("rows", rows)
    if "machine" not in data and out.exists():  # results from before the JSON kept it: the table's first line
        data["machine"] = out.read_text().split("\n\n")[1].split(". Run ")[0]
    gaps = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, (label, argv) in mlgate_jobs(reference, current, Path(tmp)).items():
            m = measure(f"{label} (peak)", argv, 1)
            entry = data["results"][key]
            if m.ok and m.runs[0].peak_exact and entry.get("runs"):
                entry["peak_check"] = {"mb": m.peak_mb, "measured": when}
                table = max(r[1] for r in entry["runs"])
                gaps.append((m.peak_mb - table) / table)
    if not gaps:
        raise SystemExit("no row was re-measured")
    data["peaks"] = {
        "measured": when,
        "machine": machine(),
        "note": (
            f"Peak memory: this run took wait4's ru_maxrss, which on Linux is at least the benchmark runner's "
            f"own size (~29 MB here; it keeps the high-water mark of the memory an exec replaces), so a value "
            f"above that is the job's own, as every one here is. Checked on {when}: the floor and the "
            f"mlgate rows re-measured once each as the job's own high-water mark (bench/common.py, "
            f"`peak_check` in the JSON) are within {min(gaps):+.1%} to {max(gaps):+.1%} of the table's (the "
            f"largest of 3 runs)."
        ),
    }
    stored.write_text(json.dumps(data, indent=1))
    out.write_text(render(data))
    print(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evidently-repeats", type=int, default=1)
    parser.add_argument(
        "--peaks-only",
        action="store_true",
        help="re-measure the quick rows' peak memory as a check beside the stored results",
    )
    parser.add_argument("--quick", action="store_true", help="compare CPU-time ratios with the stored ones")
    parser.add_argument("--out", default=str(RESULTS / "drift.md"))
    args = parser.parse_args()
    if args.quick:
        sys.exit(quick(args.rows, Path(args.out).with_suffix(".json")))
    if args.peaks_only:
        remeasure_peaks(Path(args.out), args.rows)
        return
    reference, current = drift_files(args.rows)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = load()
    results: dict[str, Measurement] = {}
    comparison: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jobs = mlgate_jobs(reference, current, folder)
        for key, (label, argv) in jobs.items():
            results[key] = measure(label, argv, args.repeats, env=BYTECODE)
        # the floor again, after the mlgate rows: it is the CPU-time ratios' normaliser, and a run right
        # after another process freed gigabytes (the previous bench, say) can take several times its CPU
        # time on this machine (all three first runs did, once: 4.6-15.5 s of CPU against 1.5 s)
        label, argv = jobs["floor"]
        results["floor"].runs += measure(label, argv, args.repeats, env=BYTECODE).runs
        ours = mlgate_values(folder / "raw") if results["mlgate"].runs else {}
        from_profile = mlgate_values(folder / "stored") if results["stored"].runs else {}
        scipy_out = folder / "scipy.json"
        results["scipy"] = measure(
            "scipy per column",
            [
                sys.executable,
                str(HERE / "drift_jobs.py"),
                "scipy",
                str(reference),
                str(current),
                str(scipy_out),
            ],
            args.repeats,
            env=BYTECODE,
        )
        if EVIDENTLY_PYTHON.exists():
            evidently_out = folder / "evidently.json"
            results["evidently"] = measure(
                "Evidently DataDriftPreset",
                [
                    str(EVIDENTLY_PYTHON),
                    str(HERE / "evidently_job.py"),
                    str(reference),
                    str(current),
                    str(evidently_out),
                ],
                args.evidently_repeats,
            )
            if evidently_out.exists() and ours:
                theirs = json.loads(evidently_out.read_text())
                common_columns = sorted(set(ours) & set(theirs["values"]))
                gaps = [abs(ours[c] - theirs["values"][c]) for c in common_columns]
                comparison = {
                    "columns": len(common_columns),
                    "max_abs_difference": max(gaps) if gaps else None,
                    "mlgate_drifted": mlgate_drifted(folder / "raw"),
                    "evidently_drifted": theirs["drifted"],
                }
                comparison["same_drifted"] = comparison["mlgate_drifted"] == sorted(theirs["drifted"])
        else:
            results["evidently"] = Measurement("Evidently DataDriftPreset", skipped="no evidently env")
        if ours and from_profile:
            comparison["profile_max_abs_difference"] = max(abs(ours[c] - from_profile[c]) for c in ours)
    load_after = load()
    data = {
        "machine": machine(),
        "started": started,
        "load": [load_before, load_after],
        "rows": args.rows,
        "repeats": args.repeats,
        "evidently_repeats": args.evidently_repeats,
        "peak": "the job's own resident high-water mark (bench/common.py)",
        "comparison": comparison,
        "results": {k: runs_json(m) for k, m in results.items()},
        "cpu_ratios": cpu_ratios(results),
    }
    text = render(data)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    print(text)


if __name__ == "__main__":
    main()
