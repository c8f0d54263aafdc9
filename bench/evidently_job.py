"""Evidently's data drift preset on reference vs current, run by bench/drift.py with Evidently's own
interpreter (Evidently 0.7.23 needs pandas 2.x; see bench/README.md for the environment).

    python bench/evidently_job.py REFERENCE.parquet CURRENT.parquet OUT.json

The tests are the ones mlgate chooses by default for large samples (and Evidently too above 1000 rows):
Wasserstein distance / std >= 0.1 for numeric columns, Jensen-Shannon distance >= 0.1 for categorical ones.
Prints one JSON line: the per-column values and the drifted columns.
"""

from __future__ import annotations

import json
import sys
import time


def main(reference: str, current: str, out: str) -> None:
    start = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    numeric = [c for c in ref.columns if ref[c].dtype.kind in "fiu"]
    categorical = [c for c in ref.columns if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(
        num_method="wasserstein", cat_method="jensenshannon", num_threshold=0.1, cat_threshold=0.1
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    values = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            values[config["column"]] = float(metric["value"])
    drifted = sorted(c for c, v in values.items() if v >= 0.1)
    result = {"values": values, "drifted": drifted, "seconds": time.perf_counter() - start}
    with open(out, "w") as handle:
        json.dump(result, handle)
    print(json.dumps({"drifted": drifted, "columns": len(values)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
