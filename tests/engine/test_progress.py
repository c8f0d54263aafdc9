"""Progress of the DuckDB and Spark engines: read from the engine while a real query runs, shown as plain lines
in CI, nothing when quiet, and never a failure of the query."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from gates.core import progress
from gates.engine import duckdb as duck
from gates.engine import watch

HEAVY = "SELECT count(DISTINCT hash(i) % 1000003) AS n FROM range(40000000) t(i)"


@pytest.fixture
def plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI mode with a line per change (the real period is 10 s) and fast polling."""
    monkeypatch.setenv("MLGATE_PROGRESS", "lines")
    monkeypatch.delenv("MLGATE_QUIET", raising=False)
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    monkeypatch.setattr(watch, "EVERY", 0.02)


def test_polled_reads_until_the_block_ends_and_survives_a_failing_read(plain_lines, capsys):
    readings = iter([None, (1, 4, "stage 0"), (3, 4, "stage 1")])

    def read() -> watch.Reading:
        return next(readings)  # StopIteration after three reads: polling stops, the work goes on

    with watch.polled("work", "tasks", read, every=0.01):
        time.sleep(0.3)
    err = capsys.readouterr().err
    assert "mlgate: work: 1 / 4 tasks (25%), stage 0" in err
    assert "mlgate: work: 3 / 4 tasks (75%), stage 1" in err and err.rstrip().endswith("done")


def test_quiet_starts_no_thread(monkeypatch, capsys):
    monkeypatch.setenv("MLGATE_QUIET", "1")
    calls = []
    with watch.polled("work", "tasks", lambda: calls.append(1), every=0.01):
        time.sleep(0.05)
    assert calls == [] and capsys.readouterr().err == ""


def test_duckdb_query_progress_is_shown(plain_lines, capsys, tmp_path):
    pd.DataFrame({"a": [1, 2]}).to_parquet(tmp_path / "t.parquet")
    source = duck.source_of(str(tmp_path / "t.parquet"))
    con, _ = duck.connect(source, {"threads": 1})
    try:
        run = duck._runner(con, source)
        assert run(HEAVY).column("n").to_pylist()[0] > 0
        assert run("SELECT count(*) AS n FROM src").column("n").to_pylist() == [2]
    finally:
        con.close()
    lines = capsys.readouterr().err.splitlines()
    shown = [line for line in lines if line.startswith("mlgate: duckdb query 1 on t.parquet: ")]
    assert shown and shown[-1].endswith("done"), lines
    percents = [float(line.split(": ")[2].split(" %")[0]) for line in shown]
    assert all(0 <= p <= 100 for p in percents) and max(percents) > 0


@pytest.mark.timeout(180)
def test_spark_stage_progress_is_shown(plain_lines, capsys, spark):
    from gates.engine.spark import _collect

    sql = "SELECT count(DISTINCT id % 100003) AS n FROM range(0, 4000000, 1, 8)"
    assert _collect(spark, sql, "range").column("n").to_pylist() == [100003]
    lines = capsys.readouterr().err.splitlines()
    shown = [line for line in lines if line.startswith("mlgate: spark query on range: ")]
    assert any(" tasks (" in line and ", stage " in line for line in shown), lines
    assert shown[-1].endswith("done")
