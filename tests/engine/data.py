"""Predictions for the engine tests: 12 groups (sex x band, one band value missing in some rows), tied scores
(rounded to 3 decimals), labels as text, and the same rows as one file and as a hive-partitioned folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write(folder: Path, rows: int = 30_000, seed: int = 7) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], rows, p=[0.45, 0.55])
    band = rng.choice(["18-34", "35-54", "55+", "unknown"], rows, p=[0.3, 0.35, 0.3, 0.05])
    base = 0.2 + 0.1 * (sex == "male") + 0.05 * (band == "55+")
    label = np.where(rng.random(rows) < base, "fraud", "ok")
    score = np.round(np.clip(0.35 * (label == "fraud") + rng.beta(2, 5, rows), 0, 1), 3)  # ties
    table = pa.table(
        {
            "label": label,
            "score": score,
            "prediction": np.where(score >= 0.45, "fraud", "ok"),
            "sex": sex,
            "band": pa.array(np.where(band == "unknown", None, band).tolist(), pa.string()),  # nulls
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )
    single = folder / "all.parquet"
    pq.write_table(table, single, row_group_size=7_000)
    parts = folder / "parts"
    pq.write_to_dataset(table, parts, partition_cols=["region"])  # hive partitions: region=north/...
    csv = folder / "all.csv"
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, csv)
    return {"single": single, "parts": parts, "csv": csv}


SECTION = {"positive_label": "fraud", "missing_group": "missing"}
