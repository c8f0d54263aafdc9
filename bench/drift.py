"""Benchmark: drift of 100 columns (80 numeric, 20 categorical text), reference vs current, 1e6 rows each.

    python bench/drift.py [--rows 1000000] [--repeats 3] [--evidently-repeats 1]

Peers, each in its own process:
- Evidently 0.7.23's DataDriftPreset with the same tests mlgate uses by default (Wasserstein / std >= 0.1 for
  numeric, Jensen-Shannon >= 0.1 for categorical), run with the interpreter of a separate environment
  (Evidently does not import with pandas 3): ~/.cache/mlgate/evidently-venv/bin/python, or
  MLGATE_EVIDENTLY_PYTHON. Without it the row says "skipped: no evidently env".
- scipy called per column (ks_2samp per numeric column, chi-square per categorical column);
- reading both files whole with pyarrow (the floor).
mlgate runs as users run it: `mlgate drift` on the raw reference, and on a profile stored once with
`mlgate drift profile`. The per-column statistics of mlgate and Evidently are compared in the same run.
Results: bench/results/drift.md (and .json).
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
    EVIDENTLY_PYTHON,
    RESULTS,
    Measurement,
    drift_files,
    load,
    machine,
    measure,
    ratio_text,
    seconds_text,
)

HERE = Path(__file__).resolve().parent


def mlgate_values(report_dir: Path) -> dict[str, float]:
    report = json.loads((report_dir / "drift.json").read_text())["gates"][0]
    return {c["column"]: c["statistic"] for c in report["evidence"]["columns"] if c.get("statistic") is not None}


def cell(m: Measurement, ours: float | None) -> str:
    text = seconds_text(m)
    if m.ok:
        text += f", {m.peak_mb:.0f} MB"
        if ours:
            text += f"; **{ratio_text(m.median / ours)}**"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evidently-repeats", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "drift.md"))
    args = parser.parse_args()
    reference, current = drift_files(args.rows)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = load()
    results: dict[str, Measurement] = {}
    comparison: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["floor"] = measure("floor", [sys.executable, str(HERE / "drift_jobs.py"), "floor", str(reference),
                                             str(current)], args.repeats)
        raw = folder / "raw"
        results["mlgate"] = measure("mlgate drift", ["mlgate", "--no-audit", "--report-dir", str(raw), "drift",
                                                     "--reference", str(reference), "--current", str(current),
                                                     "--no-plots"], args.repeats)
        profile = folder / "reference-profile.json"
        results["profile"] = measure("mlgate drift profile", ["mlgate", "--no-audit", "--report-dir", str(raw),
                                                              "drift", "profile", "--reference", str(reference),
                                                              "--out", str(profile)], args.repeats)
        stored = folder / "stored"
        results["stored"] = measure("mlgate drift (stored profile)",
                                    ["mlgate", "--no-audit", "--report-dir", str(stored), "drift", "--reference",
                                     str(profile), "--current", str(current), "--no-plots"], args.repeats)
        ours = mlgate_values(raw) if results["mlgate"].runs else {}
        from_profile = mlgate_values(stored) if results["stored"].runs else {}
        scipy_out = folder / "scipy.json"
        results["scipy"] = measure("scipy per column", [sys.executable, str(HERE / "drift_jobs.py"), "scipy",
                                                        str(reference), str(current), str(scipy_out)], args.repeats)
        if EVIDENTLY_PYTHON.exists():
            evidently_out = folder / "evidently.json"
            results["evidently"] = measure("Evidently DataDriftPreset",
                                           [str(EVIDENTLY_PYTHON), str(HERE / "evidently_job.py"), str(reference),
                                            str(current), str(evidently_out)], args.evidently_repeats)
            if evidently_out.exists() and ours:
                theirs = json.loads(evidently_out.read_text())
                common_columns = sorted(set(ours) & set(theirs["values"]))
                gaps = [abs(ours[c] - theirs["values"][c]) for c in common_columns]
                comparison = {"columns": len(common_columns), "max_abs_difference": max(gaps) if gaps else None,
                              "mlgate_drifted": sorted(c for c in common_columns if ours[c] >= 0.1),
                              "evidently_drifted": theirs["drifted"]}
                comparison["same_drifted"] = comparison["mlgate_drifted"] == sorted(theirs["drifted"])
        else:
            results["evidently"] = Measurement("Evidently DataDriftPreset", skipped="no evidently env")
        if ours and from_profile:
            comparison["profile_max_abs_difference"] = max(abs(ours[c] - from_profile[c]) for c in ours)
    load_after = load()
    mine = results["mlgate"].median if results["mlgate"].ok else None
    lines = ["# Drift benchmark", "",
             (f"{machine()}. Run {started}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
              f"(1 min). {args.rows:,} reference rows and {args.rows:,} current rows, 100 columns (80 numeric, 20 "
              f"categorical text), Parquet. Median of {args.repeats} runs (range), Evidently "
              f"{args.evidently_repeats} run(s). After the semicolon: how many times longer than `mlgate drift`."),
             "", "| work | wall time, peak memory |", "|---|---|"]
    rows = [("read both files whole with pyarrow (the floor)", "floor", False),
            ("**mlgate drift** (raw reference; default tests: Wasserstein / std, Jensen-Shannon)", "mlgate", False),
            ("mlgate drift profile (summarise the reference once)", "profile", False),
            ("**mlgate drift** against the stored profile (reads only the current data)", "stored", True),
            ("Evidently 0.7.23 DataDriftPreset, same tests (report.run + Dataset build)", "evidently", True),
            ("scipy per column: ks_2samp (numeric) + chi-square (categorical)", "scipy", True)]
    for title, key, ratio in rows:
        lines.append(f"| {title} | {cell(results[key], mine if ratio else None)} |")
    if comparison:
        lines += ["", (f"Same run, mlgate vs Evidently per-column statistics: {comparison.get('columns')} columns, "
                       f"largest absolute difference {comparison.get('max_abs_difference', float('nan')):.2g}; "
                       f"drifted columns identical: {comparison.get('same_drifted')} "
                       f"({len(comparison.get('mlgate_drifted', []))} columns). Stored profile vs raw reference: "
                       f"largest difference {comparison.get('profile_max_abs_difference', float('nan')):.2g}.")]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({
        "started": started, "load": [load_before, load_after], "comparison": comparison,
        "results": {k: {"runs": [(r.seconds, r.peak_mb, r.code) for r in m.runs], "skipped": m.skipped}
                    for k, m in results.items()}}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
