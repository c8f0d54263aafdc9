"""Drift peers in this environment, one per process, for bench/drift.py:

python bench/drift_jobs.py scipy REFERENCE CURRENT OUT.json   # ks_2samp per numeric, chi-square per categorical
python bench/drift_jobs.py floor REFERENCE CURRENT            # read every column of both files, nothing else
"""

from __future__ import annotations

import json
import sys
import time


def floor(reference: str, current: str) -> dict:
    import pyarrow.parquet as pq

    rows = 0
    for path in (reference, current):
        table = pq.read_table(path)
        rows += table.num_rows
    return {"rows": rows}


def scipy_tests(reference: str, current: str, out: str) -> dict:
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from scipy import stats

    ref, cur = pq.read_table(reference), pq.read_table(current)
    p_values = {}
    for name in ref.column_names:
        a, b = ref.column(name), cur.column(name)
        if a.type in ("double", "float", "int64", "int32"):
            p_values[name] = float(stats.ks_2samp(a.to_numpy(), b.to_numpy()).pvalue)
        else:
            counts_a = {v["values"]: v["counts"] for v in pc.value_counts(a).to_pylist()}
            counts_b = {v["values"]: v["counts"] for v in pc.value_counts(b).to_pylist()}
            keys = sorted(set(counts_a) | set(counts_b))
            table = np.array([[counts_a.get(k, 0) for k in keys], [counts_b.get(k, 0) for k in keys]])
            p_values[name] = float(stats.chi2_contingency(table, correction=False)[1])
    drifted = sorted(c for c, p in p_values.items() if p < 0.05)
    with open(out, "w") as handle:
        json.dump({"p_values": p_values, "drifted": drifted}, handle)
    return {"drifted": len(drifted), "columns": len(p_values)}


if __name__ == "__main__":
    start = time.perf_counter()
    job = sys.argv[1]
    result = floor(*sys.argv[2:4]) if job == "floor" else scipy_tests(*sys.argv[2:5])
    result["_inner_seconds"] = time.perf_counter() - start
    print(json.dumps(result))
