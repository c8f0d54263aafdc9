"""Spark's packed cells (gates.engine.spark_cells) against the SQL statements they replace, in one session:
the same cells for one gate and for both gates (bias cells with and without scores), text labels and
predictions, a sensitive value missing, a decision taken from the score; and the fallback to the SQL, which
raises the error the other engines raise, when a score is outside [0, 1]."""

from __future__ import annotations

from pathlib import Path

import pytest

from gates.core.errors import InputError
from tests.engine.data import SECTION, write
from tests.engine.test_duckdb import FEATURES, assert_same_cells

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(240)

MAX_CELLS = 2048  # 30,000 rows: the scores go onto a grid, where the packed key applies


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("spark-cells"))


@pytest.fixture
def packed(monkeypatch):
    """Runs `compute` with the packed path on, then off (the SQL alone); returns both results and whether
    the packed path answered."""
    from gates.engine import spark_cells

    original = spark_cells.Statements._packed
    answered: list[bool] = []

    def spied(self, sql):
        found = original(self, sql)
        answered.append(found is not None)
        return found

    def both(compute):
        monkeypatch.setattr(spark_cells.Statements, "_packed", spied)
        fast = compute()
        monkeypatch.setattr(spark_cells.Statements, "_packed", lambda self, sql: None)
        return fast, compute(), any(answered)

    return both


def joint(spark, path: Path, section: dict, bias_scores: bool):
    from gates.engine import cells
    from gates.engine import spark as engine

    frame, label = engine.frame_of(spark, str(path))
    with engine._view(spark, frame) as view:
        statements = engine._statements(
            spark, frame, view, label, (list(frame.columns), section, FEATURES, label), MAX_CELLS, bias_scores
        )
        return cells.compute_joint(
            statements,
            engine.quote,
            list(frame.columns),
            section,
            section,
            FEATURES,
            MAX_CELLS,
            label,
            {},
            bias_scores,
        )


def test_one_gate_packed_as_the_statement(spark, files, packed):
    from gates.engine.spark import compute_statistics

    fast, slow, used = packed(
        lambda: compute_statistics(str(files["single"]), SECTION, FEATURES, max_cells=MAX_CELLS)
    )
    assert used and not fast.streaming["exact"]
    assert fast.streaming == slow.streaming
    assert_same_cells(slow, fast)


@pytest.mark.parametrize("bias_scores", [False, True])
def test_both_gates_packed_as_the_grouping_sets(spark, files, packed, bias_scores):
    section = {**SECTION, "task": "binary"}
    fast, slow, used = packed(lambda: joint(spark, files["single"], section, bias_scores))
    assert used
    for gate in ("metrics", "bias"):
        assert fast[gate].streaming == slow[gate].streaming
        assert_same_cells(slow[gate], fast[gate])


def test_decision_from_the_score(spark, files, packed, tmp_path):
    import pyarrow.parquet as pq

    from gates.engine.spark import compute_statistics

    path = tmp_path / "no-prediction.parquet"
    pq.write_table(pq.read_table(files["single"]).drop_columns(["prediction"]), path)
    fast, slow, used = packed(lambda: compute_statistics(str(path), SECTION, FEATURES, max_cells=MAX_CELLS))
    assert used
    assert_same_cells(slow, fast)


def test_a_score_outside_the_unit_interval_says_so_as_the_statement_does(spark, files, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gates.engine.spark import compute_statistics

    table = pq.read_table(files["single"])
    scores = table.column("score").to_numpy().copy()
    scores[:3] = 1.5
    path = tmp_path / "outside.parquet"
    pq.write_table(table.set_column(1, "score", pa.array(scores)), path)
    with pytest.raises(InputError, match=r"expected probabilities in \[0, 1\], got 1.5 \(3 rows outside\)"):
        compute_statistics(str(path), SECTION, FEATURES, max_cells=MAX_CELLS)


@pytest.mark.parametrize("bits", [None, "10"])
def test_first_level_map_sized_for_the_cells_and_put_back(spark, files, packed, bits):
    """The packed aggregation runs on Spark's vectorized first-level map (spark_cells.fast_map); with room
    for a fraction of the keys (2^10 against thousands of cells on a fine grid), rows past it go to Spark's general map, and the
    cells are the statement's either way. A capacity the session already has stands; what mlgate set is gone
    after the query."""
    from gates.engine import spark_cells
    from gates.engine.spark import compute_statistics

    seen: list[str | None] = []
    original = spark_cells.Statements.__call__

    def watching(self, sql):
        result = original(self, sql)
        seen.append(spark.conf.get(spark_cells.MAP_BITS_CONF, None))
        return result

    if bits:
        spark.conf.set(spark_cells.MAP_BITS_CONF, bits)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(spark_cells.Statements, "__call__", watching)
            fast, slow, used = packed(
                lambda: compute_statistics(str(files["single"]), SECTION, FEATURES, max_cells=29_999)
            )
        assert used and not fast.streaming["exact"] and len(fast.cells.counts) > 4 * 1024
        assert_same_cells(slow, fast)
        assert set(seen) == {bits}  # after each query: the session's own value, or none
        assert spark.conf.get(spark_cells.MAP_CONF, None) is None
    finally:
        spark.conf.unset(spark_cells.MAP_BITS_CONF)


def test_first_level_map_capacity():
    from gates.engine.spark_cells import MAX_MAP_BITS, MIN_MAP_BITS, map_bits

    assert map_bits(0) == map_bits(1_000) == MIN_MAP_BITS
    assert map_bits(70_000) == 17 and map_bits(1 << 17) == 17 and map_bits((1 << 17) + 1) == 18
    assert map_bits(501_269) == 19 and map_bits(10**9) == MAX_MAP_BITS


def test_a_session_that_refuses_the_settings_still_aggregates():
    """fast_map is an optimisation: a session whose conf refuses the settings (a managed service's) runs the
    query unchanged, and nothing is left set."""
    from gates.engine.spark_cells import fast_map

    class Conf:
        def __init__(self):
            self.values: dict[str, str] = {}

        def get(self, name, default=None):
            return self.values.get(name, default)

        def set(self, name, value):
            if name.endswith("capacityBit"):
                raise RuntimeError("[CONFIG_NOT_AVAILABLE] not available on this compute")
            self.values[name] = value

        def unset(self, name):
            del self.values[name]

    class Session:
        conf = Conf()

    ran = []
    with fast_map(Session(), 500_000):
        ran.append(dict(Session.conf.values))
    assert ran == [{"spark.sql.codegen.aggregate.map.vectorized.enable": "true"}]
    assert Session.conf.values == {}
