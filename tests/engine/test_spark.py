"""The Spark engine (local[2]) against DuckDB and the local engine: the same cells from a DataFrame, a path and
a table, exact and on the grid; and the spark-submit entry point writing a report. One session per module."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gates.engine import duckdb, local
from tests.engine.data import SECTION, write
from tests.engine.test_duckdb import FEATURES, assert_same_cells

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("spark"))


def test_same_cells_from_a_frame_a_path_and_a_table(spark, files):
    from gates.engine.spark import compute_statistics

    section = {**SECTION, "task": "binary"}
    want = local.tabulate(files["single"], {**SECTION, "streaming": True}, sensitive=FEATURES, where="bias")
    frame = spark.read.parquet(str(files["parts"])).repartition(3)  # several partitions, hive column region
    assert_same_cells(want, compute_statistics(frame, section, FEATURES))
    frame.createOrReplaceTempView("scored")
    assert_same_cells(want, compute_statistics("table:scored", section, FEATURES))
    assert_same_cells(want, compute_statistics(str(files["single"]), section, FEATURES))


def test_same_grid_as_duckdb(spark, files):
    from gates.engine.spark import compute_statistics

    section = {**SECTION, "task": "binary"}
    want = duckdb.tabulate(str(files["parts"]), section, {}, FEATURES, max_cells=4096)
    got = compute_statistics(str(files["parts"]), section, FEATURES, max_cells=4096)
    assert got.streaming["score_grid"] == want.streaming["score_grid"]
    assert_same_cells(want, got)


def test_spark_submit_entry_point_writes_the_report(spark, files, tmp_path):
    from gates.engine.spark import main

    spark.read.parquet(str(files["single"])).createOrReplaceTempView("scored_predictions")
    policy = tmp_path / "gates.yml"
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "defaults": {"bootstrap": {"resamples": 200}},
                "bias": {
                    "predictions": "unused.parquet",
                    "positive_label": "fraud",
                    "sensitive": ["sex", "band"],
                    "missing_group": "missing",
                    "rules": [{"metric": "demographic_parity", "disparity": "difference", "max": 0.9}],
                    "plots": False,
                },
            }
        )
    )
    code = main(
        [
            "--policy",
            str(policy),
            "--gate",
            "bias",
            "--table",
            "scored_predictions",
            "--report-dir",
            str(tmp_path / "r"),
            "--no-audit",
        ]
    )
    report = json.loads((tmp_path / "r" / "bias.json").read_text())
    assert code == 0, report
    gate = report["gates"][0]
    assert gate["evidence"]["streaming"]["engine"] == "spark"
    assert np.isfinite(gate["checks"][0]["value"])
