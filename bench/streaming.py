"""Benchmark: peak memory of the streaming reader (gates/engine/local.py) on the 1e7-row predictions file.

    python bench/streaming.py [--rows 10000000]

Each run is `mlgate --policy P run` with one gate (metrics, or bias over sex x age_band), 1000 resamples, in
its own process; peak memory is the process's own high-water mark (bench/common.py). Cases: the metrics gate
in memory, streamed with the default max_cells (2^23) and with 2^22 and 2^21; the bias gate in memory and
streamed with 2^23 and 2^21. The report's streaming evidence (cells, exact, grid, ROC AUC bound) is kept with
each run. Per gate, a straight line through (max_cells + batch_rows, peak) of the streamed runs gives what a
held cell costs at the largest merge. Results: bench/results/streaming.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, load, machine, measure, predictions_file, seconds_text

BATCH_ROWS = 1_000_000
CASES = [  # key, gate, streaming setting
    ("metrics_memory", "metrics", False),
    ("metrics_2^23", "metrics", {"enabled": True, "max_cells": 1 << 23, "batch_rows": BATCH_ROWS}),
    ("metrics_2^22", "metrics", {"enabled": True, "max_cells": 1 << 22, "batch_rows": BATCH_ROWS}),
    ("metrics_2^21", "metrics", {"enabled": True, "max_cells": 1 << 21, "batch_rows": BATCH_ROWS}),
    ("bias_memory", "bias", False),
    ("bias_2^23", "bias", {"enabled": True, "max_cells": 1 << 23, "batch_rows": BATCH_ROWS}),
    ("bias_2^21", "bias", {"enabled": True, "max_cells": 1 << 21, "batch_rows": BATCH_ROWS}),
]


def policy(path: Path, gate: str, stream, folder: Path) -> Path:
    section = {
        "predictions": str(path),
        "columns": {"label": "label", "score": "score", "prediction": "prediction"},
        "streaming": stream,
    }
    if gate == "metrics":
        section["thresholds"] = {"accuracy": {"min": 0.5}, "f1": {"min": 0.1}, "roc_auc": {"min": 0.5}}
    else:
        section.update(
            sensitive=["sex", "age_band"],
            plots=False,
            metrics=["accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"],
            rules=[{"metric": "demographic_parity", "disparity": "difference", "max": 0.5}],
        )
    out = folder / f"{gate}.yml"
    out.write_text(
        json.dumps({"version": 1, "defaults": {"bootstrap": {"resamples": 1000, "seed": 0}}, gate: section})
    )  # JSON is YAML
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", default=str(RESULTS / "streaming.md"))
    args = parser.parse_args()
    path = predictions_file(args.rows)
    started, load_before = time.strftime("%Y-%m-%d %H:%M:%S"), load()
    results = {}
    for key, gate, stream in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            m = measure(
                key,
                [
                    "mlgate",
                    "--policy",
                    str(policy(path, gate, stream, folder)),
                    "--no-audit",
                    "--report-dir",
                    str(folder / "r"),
                    "run",
                ],
                1,
            )
            report = folder / "r" / f"{gate}.json"
            evidence = json.loads(report.read_text())["gates"][0]["evidence"] if report.exists() else {}
        info = evidence.get("streaming") or {}
        results[key] = {
            "gate": gate,
            "streaming": stream,
            "seconds": m.runs[0].seconds,
            "code": m.runs[0].code,
            "peak_mb": m.peak_mb,
            "peak_exact": m.runs[0].peak_exact,
            "text": seconds_text(m),
            "report": {k: v for k, v in info.items() if k != "note"},
        }
    load_after = load()
    fits = {}
    for gate in ("metrics", "bias"):
        points = [
            (r["streaming"]["max_cells"] + BATCH_ROWS, r["peak_mb"])
            for r in results.values()
            if r["gate"] == gate and r["streaming"] and r["code"] == 0
        ]
        if len(points) >= 2:
            slope, intercept = np.polyfit([x for x, _ in points], [y for _, y in points], 1)
            fits[gate] = {"intercept_mb": float(intercept), "bytes_per_cell": float(slope * 2**20)}
    lines = [
        "# Streaming: peak memory",
        "",
        (
            f"{machine()}. Run {started}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            f"(1 min). {args.rows:,} rows of binary predictions (continuous scores: about one cell a row), "
            f"Parquet; `mlgate --policy P run` with one gate, 1000 resamples, batch_rows {BATCH_ROWS:,}. One run "
            "each; peak memory is the process's own."
        ),
        "",
        "| gate | streaming | wall time, peak memory | cells | exact | score grid | ROC AUC bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        rep, stream = r["report"], r["streaming"]
        mode = "no (in memory)" if not stream else f"max_cells 2^{int(np.log2(stream['max_cells']))}"
        bound = rep.get("roc_auc_bound")
        lines.append(
            f"| {r['gate']} | {mode} | {r['text']}, {r['peak_mb']:.0f} MB | {rep.get('cells', '–')} | "
            f"{rep.get('exact', '–')} | {rep.get('score_grid', '–')} | "
            f"{'–' if bound is None else f'{bound:.2g}'} |"
        )
    if fits:
        lines += [
            "",
            "Streamed, peak ~= intercept + bytes x (max_cells + batch_rows), least squares through the "
            "streamed runs of each gate: "
            + "; ".join(
                f"{gate}: {f['intercept_mb']:.0f} MB + {f['bytes_per_cell']:.0f} bytes a cell"
                for gate, f in fits.items()
            )
            + ".",
        ]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "started": started,
                "load": [load_before, load_after],
                "rows": args.rows,
                "batch_rows": BATCH_ROWS,
                "fits": fits,
                "results": results,
            },
            indent=1,
            default=float,
        )
    )
    print(text)


if __name__ == "__main__":
    main()
