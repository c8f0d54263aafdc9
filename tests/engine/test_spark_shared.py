"""The Spark engine inside `mlgate run` (metrics and bias on the same predictions: one shape scan and one
GROUPING SETS scan, gates.engine.shared) against the local engine's separate gates: the same checks and
intervals; and the session mlgate starts itself (no UI, shuffle partitions sized for a local master)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.data import write

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("spark-shared"), rows=12_000)


def policy(folder: Path, predictions: Path, engine: str, max_cells: int) -> Path:
    common = {"predictions": str(predictions), "positive_label": "fraud", "engine": engine}
    document = {
        "version": 1,
        "defaults": {"bootstrap": {"resamples": 200, "seed": 3}},
        "engine": {"max_cells": max_cells, "spark": {"master": "local[2]"}},
        "metrics": {**common, "thresholds": {"roc_auc": {"min": 0.5}, "accuracy": {"min": 0.5}}},
        "bias": {
            **common,
            "sensitive": ["sex", "band"],
            "missing_group": "missing",
            "plots": False,
            "rules": [{"metric": "demographic_parity", "disparity": "difference", "max": 0.9}],
        },
    }
    path = folder / f"{engine}-{max_cells}.yml"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("other", "max_cells"),
    [("local", 1 << 21), ("duckdb", 4096)],  # exact scores; scores on the grid (12,000 rows > 4096 cells)
)
def test_run_on_spark_equals_local_and_duckdb(files, cli, tmp_path, other, max_cells):
    reports = {}
    for engine, predictions in ((other, files["single"]), ("spark", files["parts"])):
        out = tmp_path / engine
        path = policy(tmp_path, predictions, engine, max_cells)
        result = cli("--policy", path, "--no-audit", "--report-dir", out, "run")
        assert result.code in (0, 1), result.stderr
        for gate in ("metrics", "bias"):
            reports[engine, gate] = json.loads((out / f"{gate}.json").read_text())["gates"][0]
    for gate in ("metrics", "bias"):
        want, got = reports[other, gate]["checks"], reports["spark", gate]["checks"]
        assert [c["name"] for c in got] == [c["name"] for c in want]
        assert [c["value"] for c in got] == pytest.approx([c["value"] for c in want], abs=1e-9)
        assert [bool(c.get("ci")) for c in got] == [bool(c.get("ci")) for c in want]
        bounds = [[b for c in checks if c.get("ci") for b in c["ci"]] for checks in (got, want)]
        assert bounds[0] == pytest.approx(bounds[1], abs=1e-9)
    assert reports["spark", "metrics"]["evidence"]["streaming"]["engine"] == "spark"


def test_session_defaults(spark):
    from gates.engine.spark import local_partitions, session, session_conf

    assert local_partitions("local[3]") == {"spark.sql.shuffle.partitions": "6"}
    assert local_partitions("local") == {"spark.sql.shuffle.partitions": "2"}
    assert local_partitions("yarn") == {} and local_partitions("spark://h:7077") == {}
    conf = session_conf({"master": "local[2]"})
    assert conf["spark.ui.enabled"] == "false" and conf["spark.sql.shuffle.partitions"] == "4"
    assert (
        session_conf({"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": 7}})[
            "spark.sql.shuffle.partitions"
        ]
        == "7"
    )  # the policy wins
    # the tests' shared session was started by session() with these defaults; an active one is returned as is
    returned = session({"spark": {"master": "local[4]"}})
    assert returned.sparkContext.applicationId == spark.sparkContext.applicationId
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
