"""Benchmark: the metrics and bias gates at 1e6 / 1e7 / 1e8 rows on each engine, against each engine's floor.

    python bench/scale.py [--rows 1000000 10000000] [--engines local duckdb spark] [--repeats 1]
    python bench/scale.py --quick      # 1e6 rows; fails when a ratio is over 25% worse than the stored one

Data: bench/common.py's predictions (12 groups: sex x age_band, continuous scores), one Parquet file. Each
measured thing is its own process (wall time, peak memory of the process; bench/common.py):

- gates: `mlgate --policy P run` with the metrics and bias sections (1000 resamples, intervals), `engine: E`;
- floors: the local engine's is pyarrow reading the five columns; DuckDB's is DuckDB's own GROUP BY of the
  same cells the engine asks for (gates.engine.cells' statements on the same grid: the metrics gate's and the
  bias gate's), fetched as Arrow;
- peers: scikit-learn (accuracy, ROC AUC) and fairlearn MetricFrame (per-group accuracy and selection rate),
  point values only, no intervals, at 1e6 rows (at 1e7 they take minutes on this machine).

DuckDB runs with memory_limit 400MB (gates and floor alike); max_cells is the engine default (2^21).
The ratio gate / floor is what --quick compares with bench/results/scale.json.
Results: bench/results/scale.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, load, machine, measure, predictions_file, seconds_text

COLUMNS = ["label", "score", "prediction", "sex", "age_band"]
PEERS_UP_TO = 1_000_000
REGRESSION = 1.25  # --quick fails when a ratio grows past this factor of the stored one
FLOORS = {  # each engine's floor: local against pyarrow's read, duckdb and spark against DuckDB's group-by
    "local": "read floor (pyarrow)",
    "duckdb": "duckdb group-by floor",
    "spark": "duckdb group-by floor",
}
DUCKDB = {"memory_limit": "400MB"}  # the engine settings of the gates and of DuckDB's own group-by


def policy(path: Path, engine: str, folder: Path) -> Path:
    common = {"predictions": str(path), "engine": engine}
    document = {
        "version": 1,
        "defaults": {"bootstrap": {"resamples": 1000, "seed": 0}},
        "engine": {
            **DUCKDB,
            "spark": {
                "master": "local[2]",
                "conf": {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"},
            },
        },
        "metrics": {**common, "thresholds": {"accuracy": {"min": 0.5}, "roc_auc": {"min": 0.5}}},
        "bias": {
            **common,
            "sensitive": ["sex", "age_band"],
            "plots": False,
            "metrics": ["accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"],
            "rules": [{"metric": "demographic_parity", "disparity": "difference", "max": 0.5}],
        },
    }
    out = folder / f"{engine}.yml"
    out.write_text(json.dumps(document))  # JSON is YAML
    return out


READ_FLOOR = """
import sys, pyarrow.parquet as pq
table = pq.read_table(sys.argv[1], columns={columns!r})
print(table.num_rows)
"""

DUCKDB_FLOOR = """
import sys
from gates.engine import cells, duckdb
source = duckdb.source_of(sys.argv[1])
con, names = duckdb.connect(source, {settings!r})
for features, groups in (([], 1), (["sex", "age_band"], 12)):  # the metrics gate's cells, the bias gate's
    plan = cells.Plan.from_section({{}}, names, features)
    shape = con.sql(cells.shape_sql(plan, duckdb.quote)).to_arrow_table()
    grid = cells.grid_bits({rows}, groups, cells.MAX_CELLS)
    print(con.sql(cells.cells_sql(plan, duckdb.quote, grid, [1])).to_arrow_table().num_rows)
"""

PEERS = """
import sys, pyarrow.parquet as pq
from sklearn.metrics import accuracy_score, roc_auc_score
from fairlearn.metrics import MetricFrame, selection_rate
frame = pq.read_table(sys.argv[1], columns={columns!r}).to_pandas()
y, pred = frame["label"], frame["prediction"]
print(accuracy_score(y, pred), roc_auc_score(y, frame["score"]))
mf = MetricFrame(metrics={{"accuracy": accuracy_score, "selection_rate": selection_rate}}, y_true=y,
                 y_pred=pred, sensitive_features=frame[["sex", "age_band"]])
print(mf.difference())
"""


def script(folder: Path, name: str, text: str) -> list[str]:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return [sys.executable, str(path)]


def run_size(
    rows: int, engines: list[str], repeats: int, folder: Path, peers: bool = True
) -> dict[str, dict]:
    path = predictions_file(rows)
    out: dict[str, dict] = {}

    def record(key: str, argv: list[str], timeout: float = 3600) -> None:
        m = measure(key, argv, repeats, timeout=timeout)
        out[key] = {
            "seconds": m.median if m.ok else None,
            "peak_mb": m.peak_mb if m.runs else None,
            "text": seconds_text(m),
        }

    record("read floor (pyarrow)", script(folder, "read", READ_FLOOR.format(columns=COLUMNS)) + [str(path)])
    record(
        "duckdb group-by floor",
        script(folder, "groupby", DUCKDB_FLOOR.format(rows=rows, settings=DUCKDB)) + [str(path)],
    )
    for engine in engines:
        argv = ["mlgate", "--policy", str(policy(path, engine, folder)), "--no-audit"]
        record(f"gates: {engine}", argv + ["--report-dir", str(folder / engine), "run"])
    for engine, floor in FLOORS.items():  # against the floor measured in this same run
        gate, base = out.get(f"gates: {engine}"), out.get(floor)
        if gate and base and gate["seconds"] and base["seconds"]:
            gate["ratio"] = gate["seconds"] / base["seconds"]
            gate["floor_seconds"] = base["seconds"]
    if peers and rows <= PEERS_UP_TO:
        record(
            "scikit-learn + fairlearn (points only)",
            script(folder, "peers", PEERS.format(columns=COLUMNS)) + [str(path)],
        )
    return out


def ratios(results: dict[str, dict]) -> dict[str, float]:
    """gate time / its floor (measured in the same run), per engine."""
    return {
        engine: results[f"gates: {engine}"]["ratio"]
        for engine in FLOORS
        if "ratio" in results.get(f"gates: {engine}", {})
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["local", "duckdb"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1e6 rows; compare ratios with the stored ones")
    parser.add_argument("--out", default=str(RESULTS / "scale.md"))
    args = parser.parse_args()
    stored_path = Path(args.out).with_suffix(".json")
    sizes = [1_000_000] if args.quick else args.rows
    started, load_before = time.strftime("%Y-%m-%d %H:%M:%S"), load()
    by_size = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            folder = Path(tmp) / str(rows)
            folder.mkdir()
            by_size[str(rows)] = run_size(rows, args.engines, args.repeats, folder, peers=not args.quick)
    if args.quick:
        return compare(by_size["1000000"], stored_path)
    document = {
        "machine": machine(),
        "started": started,
        "load": [load_before, load()],
        "sizes": by_size,
        "ratios": {rows: ratios(r) for rows, r in by_size.items()},
    }
    stored = json.loads(stored_path.read_text()) if stored_path.exists() else {}
    sizes = dict(stored.get("sizes", {}))
    for rows, results in by_size.items():  # a run adds to (or replaces) the stored rows it measured
        sizes[rows] = {**sizes.get(rows, {}), **results}
    merged = {**stored, **document, "sizes": sizes}
    merged["ratios"] = {rows: ratios(r) for rows, r in merged["sizes"].items()}
    stored_path.write_text(json.dumps(merged, indent=1))
    Path(args.out).write_text(markdown(merged))
    print(markdown(merged))
    return 0


def compare(results: dict[str, dict], stored_path: Path) -> int:
    if not stored_path.exists():
        print(f"no stored results at {stored_path}: run without --quick first", file=sys.stderr)
        return 2
    stored = json.loads(stored_path.read_text())["ratios"].get("1000000", {})
    now = ratios(results)
    worse = []
    for engine, value in now.items():
        before = stored.get(engine)
        verdict = "ok"
        if before and value > REGRESSION * before:
            verdict = "REGRESSED"
            worse.append(engine)
        print(
            f"{engine}: gate / floor {value:.2f}x (stored {before:.2f}x) {verdict}"
            if before
            else f"{engine}: {value:.2f}x (nothing stored)"
        )
    return 1 if worse else 0


def markdown(doc: dict) -> str:
    lines = [
        "# Scale: metrics + bias per engine",
        "",
        (
            f"{doc['machine']}. Run {doc['started']}; load average {doc['load'][0][0]:.2f} before, "
            f"{doc['load'][1][0]:.2f} after (1 min). Predictions with 12 groups (sex x age_band) and continuous "
            "scores, one Parquet file; `mlgate run` with the metrics and bias gates, 1000 resamples each; each row "
            "is its own process (wall time, peak memory). Generated by bench/scale.py."
        ),
        "",
        "| rows | what | wall time | peak memory | gate / floor |",
        "|---|---|---|---|---|",
    ]
    for rows, results in doc["sizes"].items():
        rat = doc["ratios"].get(rows, {})
        for key, r in results.items():
            engine = key.removeprefix("gates: ") if key.startswith("gates: ") else None
            ratio = f"{rat[engine]:.2f}x (floor {r['floor_seconds']:.3g} s)" if engine in rat else ""
            peak = f"{r['peak_mb']:.0f} MB" if r["peak_mb"] else "–"
            lines.append(f"| {int(rows):,} | {key} | {r['text']} | {peak} | {ratio} |")
    lines += [
        "",
        (
            "Floors: the local engine against pyarrow reading the same five columns; DuckDB (and Spark) "
            "against DuckDB's own GROUP BY of the same cells. Each ratio is against the floor measured in the "
            "same run (named beside it); the floor rows show the latest run's. Peers compute point values only "
            "(no intervals). Wall times depend on the machine's load (stated above): compare ratios, and "
            "regenerate on a quiet machine before publishing."
        ),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
