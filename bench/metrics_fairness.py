"""Benchmark: metrics + fairness with 1000-resample bootstrap intervals, against the read-once floor,
scikit-learn, fairlearn and a naive scikit-learn bootstrap, on 1e5 / 1e6 / 1e7 rows of binary predictions with
two sensitive features (12 intersectional groups), read from Parquet.

    python bench/metrics_fairness.py [--sizes 100000,1000000,10000000] [--repeats 3] [--quick]

Every measured thing runs in its own process (bench/jobs.py); wall time around the process, peak memory the
job's own resident high-water mark (bench/common.py). The results go to bench/results/metrics_fairness.md (and
.json). Slow peers run once, with fewer resamples where a full run would take hours; the table says which
numbers are extrapolated and how.

    python bench/metrics_fairness.py --peaks-only

re-measures, once each, only the peak memory of the quick cells (the floor, mlgate, `mlgate run`,
scikit-learn) of the sizes in the stored results, as a check beside the stored peaks, and writes the table
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
    RESULTS,
    Measurement,
    load,
    machine,
    measure,
    predictions_file,
    ratio_text,
    seconds_text,
)

JOBS = Path(__file__).resolve().parent / "jobs.py"
PY = sys.executable


def job(name: str, path: Path, *extra: str) -> list[str]:
    return [PY, str(JOBS), name, str(path), *extra]


def cli_policy(path: Path, folder: Path) -> Path:
    policy = folder / "bench-gates.yml"
    policy.write_text(f"""version: 1
report_dir: {folder / "reports"}
defaults:
  bootstrap: {{confidence: 0.95, resamples: 1000, seed: 0}}
metrics:
  predictions: {path}
  columns: {{label: label, score: score, prediction: prediction}}
  thresholds: {{accuracy: {{min: 0.5}}, f1: {{min: 0.1}}, roc_auc: {{min: 0.5}}}}
bias:
  predictions: {path}
  columns: {{label: label, score: score, prediction: prediction}}
  sensitive: [sex, age_band]
  metrics: [accuracy, selection_rate, true_positive_rate, false_positive_rate]
  rules:
    - {{metric: demographic_parity, disparity: difference, max: 0.5}}
    - {{metric: equalized_odds, disparity: difference, max: 0.5}}
  plots: false
""")
    return policy


def output(m: Measurement) -> dict:
    for run in m.runs:
        if run.code == 0 and run.stdout.strip():
            try:
                return json.loads(run.stdout.strip().splitlines()[-1])
            except json.JSONDecodeError:
                return {}
    return {}


def agreement(ours: dict, sklearn: dict, fairlearn: dict) -> str:
    """Largest relative difference between mlgate's point values and scikit-learn's / fairlearn's."""
    pairs = [(ours.get(k), sklearn.get(k)) for k in ("accuracy", "f1", "roc_auc")]
    pairs += [
        (ours.get(k), fairlearn.get(k))
        for k in ("demographic_parity_difference", "equalized_odds_difference")
    ]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if not pairs:
        return "not compared"
    worst = max(abs(a - b) / max(abs(b), 1e-300) for a, b in pairs)
    names = len(pairs)
    return f"{names} values, max relative difference {worst:.1e}"


def quick_jobs(path: Path, folder: Path) -> dict[str, tuple[str, list[str]]]:
    """key: (label, argv) of the cells that take seconds (the floor, mlgate, `mlgate run`, scikit-learn)."""
    policy = cli_policy(path, folder)
    return {
        "floor": ("floor", job("floor", path)),
        "mlgate": ("mlgate", job("mlgate", path, "1000")),
        "mlgate_cli": ("mlgate run (CLI)", ["mlgate", "--policy", str(policy), "--no-audit", "run"]),
        "sklearn": ("sklearn", job("sklearn", path)),
    }


def run_size(rows: int, repeats: int, quick: bool) -> dict:
    path = predictions_file(rows)
    print(f"\n== {rows:,} rows ({path}), load {load()[0]:.2f}", file=sys.stderr, flush=True)
    out: dict = {"rows": rows, "measurements": {}, "notes": []}

    def add(key: str, m: Measurement, factor: float = 1.0, note: str = "") -> None:
        out["measurements"][key] = {
            "label": m.label,
            "runs": [(r.seconds, r.peak_mb, r.code) for r in m.runs],
            "median": m.median if m.ok else None,
            "spread": m.spread if m.ok else None,
            "peak_mb": m.peak_mb if m.runs else None,
            "peak_exact": all(r.peak_exact for r in m.runs),
            "factor": factor,
            "estimate": m.median * factor if m.ok else None,
            "note": note,
            "text": seconds_text(m),
            "output": output(m),
        }

    with tempfile.TemporaryDirectory() as tmp:
        for key, (label, argv) in quick_jobs(path, Path(tmp)).items():
            add(key, measure(label, argv, repeats))
    if quick:
        return out
    slow_repeats = 1 if rows >= 10_000_000 else repeats
    add("fairlearn", measure("fairlearn", job("fairlearn", path), slow_repeats))
    if rows <= 100_000:
        add(
            "fairlearn_boot",
            measure("fairlearn n_boot=100", job("fairlearn-boot", path, "100"), 1),
            10.0,
            "n_boot=100, times 10 for 1000 resamples",
        )
    elif rows <= 1_000_000:
        add(
            "fairlearn_boot",
            measure("fairlearn n_boot=10", job("fairlearn-boot", path, "10"), 1),
            100.0,
            "n_boot=10, times 100 for 1000 resamples",
        )
    if rows <= 100_000:
        add(
            "naive",
            measure("naive bootstrap 1000", job("naive-boot", path, "1000"), 1),
            1.0,
            "1000 resamples",
        )
    elif rows <= 1_000_000:
        add(
            "naive",
            measure("naive bootstrap 100", job("naive-boot", path, "100"), 1),
            10.0,
            "100 resamples, times 10",
        )
    else:
        add(
            "naive",
            measure("naive bootstrap 10", job("naive-boot", path, "10"), 1),
            100.0,
            "10 resamples, times 100",
        )
    return out


def table(results: list[dict], meta: dict) -> str:
    sizes = [r["rows"] for r in results]
    head = "| work | " + " | ".join(f"{n:.0e} rows".replace("e+0", "e") for n in sizes) + " |"
    lines = [head, "|---" * (len(sizes) + 1) + "|"]

    def cell(r: dict, key: str, with_ratio: bool = True) -> str:
        ours = r["measurements"]["mlgate"]["median"]
        m = r["measurements"].get(key)
        if not m:
            if key == "fairlearn_boot":  # not run at this size: scale the largest measured size by rows
                measured = [x for x in results if x["measurements"].get(key, {}).get("estimate")]
                if measured:
                    base = measured[-1]
                    est = base["measurements"][key]["estimate"] * r["rows"] / base["rows"]
                    return (
                        f"~{est:.3g} s (extrapolated from {base['rows']:.0e} rows, linear in rows; not run); "
                        f"**~{ratio_text(est / ours)}**"
                    )
            return "–"
        if m["median"] is None:
            return m["text"]
        text = m["text"]
        if m["factor"] != 1.0:
            text = f"~{m['estimate']:.3g} s ({m['note']}; measured {m['median']:.3g} s)"
        text += f", {'' if m.get('peak_exact', True) else '<= '}{m['peak_mb']:.0f} MB"
        if with_ratio and key not in ("mlgate", "floor") and ours:
            text += f"; **{ratio_text(m['estimate'] / ours)}**"
        return text

    rows = [
        ("read the 5 columns and sum them (the floor)", "floor"),
        ("**mlgate**: metrics + bias gates, 1000 resamples each (library, one process)", "mlgate"),
        ("**mlgate run** (CLI: policy, both gates, every report format)", "mlgate_cli"),
        ("scikit-learn accuracy + F1 + ROC AUC, once, no intervals", "sklearn"),
        (
            "fairlearn MetricFrame (4 metrics) + demographic parity + equalized odds, no intervals",
            "fairlearn",
        ),
        ("fairlearn MetricFrame, 1000 bootstrap resamples", "fairlearn_boot"),
        ("scikit-learn ROC AUC bootstrap by fancy indexing, 1000 resamples", "naive"),
    ]
    for title, key in rows:
        lines.append(f"| {title} | " + " | ".join(cell(r, key) for r in results) + " |")
    ratio = []
    for r in results:
        ours, floor = r["measurements"]["mlgate"]["median"], r["measurements"]["floor"]["median"]
        cli = r["measurements"]["mlgate_cli"]["median"]
        ratio.append(
            f"{ratio_text(ours / floor)} (CLI {ratio_text(cli / floor)})" if ours and floor and cli else "–"
        )
    lines.append("| mlgate / floor | " + " | ".join(ratio) + " |")
    return "\n".join(lines)


def render(meta: dict, results: list[dict]) -> str:
    started, load_before, load_after = meta["started"], meta["load_before"], meta["load_after"]
    text = [
        "# Metrics + fairness benchmark\n",
        (
            f"{meta['machine']}. Run {started}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            f"(1 min). Median of {meta['repeats']} runs per cell (range in brackets) unless marked; slow peers run "
            "once. Each cell: wall time, peak resident memory, and (after the semicolon) how many times longer "
            "than mlgate.\n"
        ),
        table(results, meta),
        "",
        "Agreement of mlgate's point values with the peers (same run): "
        + "; ".join(
            f"{r['rows']:.0e} rows: "
            + agreement(
                r["measurements"]["mlgate"]["output"],
                r["measurements"]["sklearn"]["output"],
                r["measurements"].get("fairlearn", {}).get("output", {}),
            )
            for r in results
        )
        + ".",
        "",
    ]
    peaks = meta.get("peaks")
    if peaks:
        text += [peaks["note"], ""]
    return "\n".join(text) + "\n"


def remeasure_peaks(out: Path) -> None:
    """Peak memory of the quick cells again, one run each, as the job's own (kept beside the table's peaks as
    `peak_check`); the note under the table says how far apart they are."""
    stored = out.with_suffix(".json")
    data = json.loads(stored.read_text())
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    gaps = []
    for r in data["results"]:
        path = predictions_file(r["rows"])
        with tempfile.TemporaryDirectory() as tmp:
            for key, (label, argv) in quick_jobs(path, Path(tmp)).items():
                cell = r["measurements"].get(key)
                if not cell or cell.get("peak_mb") is None:
                    continue
                m = measure(f"{label} {r['rows']:.0e} (peak)", argv, 1)
                if m.ok and m.runs[0].peak_exact:
                    cell["peak_check"] = {"mb": m.peak_mb, "measured": when}
                    gaps.append((m.peak_mb - cell["peak_mb"]) / cell["peak_mb"])
    if not gaps:
        raise SystemExit("no cell was re-measured")
    data["meta"]["peaks"] = {
        "measured": when,
        "machine": machine(),
        "note": (
            f"Peak memory: this run took wait4's ru_maxrss, which on Linux is at least the benchmark runner's "
            f"own size (~29 MB here; it keeps the high-water mark of the memory an exec replaces), so a value "
            f"above that is the job's own, as every one here is. Checked on {when}: the floor, mlgate, "
            f"`mlgate run` and scikit-learn cells re-measured once each as the job's own high-water mark "
            f"(bench/common.py, `peak_check` in the JSON) are within {min(gaps):+.1%} to {max(gaps):+.1%} "
            f"of the table's (the largest of 3 runs)."
        ),
    }
    stored.write_text(json.dumps(data, indent=1, default=str))
    out.write_text(render(data["meta"], data["results"]))
    print(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="only the floor, mlgate and scikit-learn")
    parser.add_argument(
        "--peaks-only",
        action="store_true",
        help="re-measure the quick cells' peak memory as a check beside the stored results",
    )
    parser.add_argument("--out", default=str(RESULTS / "metrics_fairness.md"))
    args = parser.parse_args()
    if args.peaks_only:
        remeasure_peaks(Path(args.out))
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = load()
    results = [run_size(n, args.repeats, args.quick) for n in sizes]
    load_after = load()
    meta = {
        "machine": machine(),
        "started": started,
        "load_before": load_before,
        "load_after": load_after,
        "repeats": args.repeats,
        "peak": "the job's own resident high-water mark (bench/common.py)",
    }
    text = render(meta, results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
