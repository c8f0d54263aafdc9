"""How far the binned bootstrap's ranking metrics are from the exact ones, per resample, on the benchmark data.

    python bench/binning_error.py [--rows 1000000] [--resamples 1000]

The metrics gate bootstraps ROC AUC and average precision of continuous scores on 512 score-quantile bins
(gates.stats.bootstrap.coarsen) and shifts each resample by the point value's binning offset. Here one draw over the
exact cells weighs both the exact cells and the bins, so each resample's shifted binned value can be compared
with the exact value of the same draw. Reported per metric: the largest and the 99th-percentile absolute
error over the resamples, the bootstrap standard deviation, and the largest error as a share of it; for ROC
AUC also the bound the report states (half the share of positive-negative pairs within one bin, at the point).
Results: bench/results/binning_error.md (and .json). Runs in this process; about a minute at 1e6 rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS, machine, predictions_file

SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default=str(RESULTS / "binning_error.md"))
    args = parser.parse_args()
    import pyarrow.parquet as pq

    from gates.metrics_intervals import auc_bound
    from gates.stats import metrics as m
    from gates.stats.bootstrap import BOOTSTRAP_BINS, binary_cells, coarsen, weight_chunks

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    table = pq.read_table(predictions_file(args.rows), columns=["label", "score", "prediction"])
    y, score, pred = (table.column(c).to_numpy() for c in ("label", "score", "prediction"))
    exact = binary_cells(y, pred, score)
    coarse, binning = coarsen(exact)
    code = (
        np.searchsorted(binning.edges, exact.columns["score"], side="left") * 2 + exact.columns["y"]
    ) * 2 + exact.columns["pred"]
    coarse_code = (coarse.columns["score"].astype(np.int64) * 2 + coarse.columns["y"]) * 2 + coarse.columns[
        "pred"
    ]
    order = np.argsort(coarse_code)
    to_coarse = order[np.searchsorted(coarse_code[order], code)]
    assert np.array_equal(coarse_code[to_coarse], code), "every exact cell falls in one coarse cell"

    def ranking(w, cells):
        return m.ranking_metrics(w, cells.columns["y"].astype(bool), cells.columns["score"])

    point_exact, point_binned = ranking(exact.counts[None, :], exact), ranking(coarse.counts[None, :], coarse)
    exact_values: dict[str, list] = {"roc_auc": [], "average_precision": []}
    shifted_values: dict[str, list] = {"roc_auc": [], "average_precision": []}
    for weights in weight_chunks(exact, args.resamples, SEED):  # the gate's own draws over the exact cells
        coarse_weights = np.stack([np.bincount(to_coarse, weights=w, minlength=coarse.size) for w in weights])
        ex, bi = ranking(weights, exact), ranking(coarse_weights, coarse)
        for name, collected in exact_values.items():
            collected.append(ex[name])
            shifted_values[name].append(bi[name] + (point_exact[name][0] - point_binned[name][0]))
    results = {}
    for name, collected in exact_values.items():
        ex, sh = np.concatenate(collected), np.concatenate(shifted_values[name])
        error = np.abs(sh - ex)
        results[name] = {
            "max_error": float(error.max()),
            "p99_error": float(np.quantile(error, 0.99)),
            "bootstrap_sd": float(ex.std()),
            "max_error_share_of_sd": float(error.max() / ex.std()),
            "point_offset": float(point_exact[name][0] - point_binned[name][0]),
        }
    results["roc_auc"]["stated_bound"] = auc_bound(
        coarse.counts, coarse.columns["y"], coarse.columns["score"]
    )
    lines = [
        "# Binned bootstrap: error per resample",
        "",
        (
            f"{machine()}. Run {started}. {args.rows:,} rows of the benchmark predictions (continuous scores, "
            f"{exact.size:,} exact cells), {binning.bins} score bins (the gate's default is {BOOTSTRAP_BINS}), "
            f"{args.resamples} resamples drawn as the gate draws them (seed {SEED}); each resample's binned "
            "value, shifted by the point's binning offset, against the exact value of the same draw."
        ),
        "",
        "| metric | largest error | 99th percentile | bootstrap SD | largest / SD | bound stated in the report |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        bound = f"{r['stated_bound']:.2g} (unshifted)" if "stated_bound" in r else "none"
        lines.append(
            f"| {name} | {r['max_error']:.3g} | {r['p99_error']:.3g} | {r['bootstrap_sd']:.3g} | "
            f"{r['max_error_share_of_sd']:.1%} | {bound} |"
        )
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "started": started,
                "rows": args.rows,
                "resamples": args.resamples,
                "bins": binning.bins,
                "seed": SEED,
                "results": results,
            },
            indent=1,
        )
    )
    print(text)


if __name__ == "__main__":
    main()
