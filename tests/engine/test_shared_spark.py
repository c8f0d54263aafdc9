"""The joint GROUPING SETS statement on Spark (local[2]): inside a shared scope the metrics and bias gates' cells
come from one statement, equal to DuckDB's joint cells and to Spark's separate ones, on a grid and exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from gates.engine import cells as cell_sql
from gates.engine import shared
from tests.engine.data import SECTION, write
from tests.engine.test_shared import FEATURES, assert_same, joint

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("shared-spark"))


@pytest.mark.parametrize(("max_cells", "bias_scores"), [(cell_sql.MAX_CELLS, True), (4096, False)])
def test_joint_statement_on_spark(spark, files, monkeypatch, max_cells, bias_scores):
    from gates.engine.spark import compute_statistics

    section = {**SECTION, "task": "binary"}
    text = str(files["parts"])
    pair = shared.Pair(
        bias_section=section,
        features=FEATURES,
        reader=shared._reader(section),
        bias_scores=bias_scores,
    )
    calls = []
    original = cell_sql.compute_joint
    monkeypatch.setattr(cell_sql, "compute_joint", lambda *a: (calls.append(a), original(*a))[1])
    with shared.scope(pair):
        metrics = compute_statistics(text, section, [], max_cells=max_cells)
        bias = compute_statistics(text, section, FEATURES, max_cells=max_cells)
    assert len(calls) == 1 and not pair.failed  # one joint statement, no fallback
    want = joint(text, section, max_cells, bias_scores)  # DuckDB's joint cells
    for got, expected in ((metrics, want["metrics"]), (bias, want["bias"])):
        assert got.streaming["engine"] == "spark"
        got.streaming.update(engine="duckdb", source=expected.streaming["source"])
        assert_same(expected, got)
    alone = compute_statistics(text, section, [], max_cells=max_cells)  # outside the scope: its own
    alone.streaming.update(engine="duckdb", source=want["metrics"].streaming["source"])
    assert_same(want["metrics"], alone)
