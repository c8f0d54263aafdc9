"""Engine choice: auto by size and shape of the input, and one-line errors for what an engine cannot do."""

from __future__ import annotations

import pytest

from gates.core.errors import InputError
from gates.engine.choose import resolve


def test_auto_by_size_and_shape(tmp_path):
    small = tmp_path / "p.parquet"
    small.write_bytes(b"x" * 100)
    assert resolve(None, str(small), {}, None) == "local"
    assert resolve(None, str(small), {"auto_bytes": 10}, None) == "duckdb"
    assert resolve(None, str(tmp_path / "*.parquet"), {}, None) == "duckdb"
    assert resolve(None, str(tmp_path), {}, None) == "duckdb"
    assert resolve(None, str(small), {"default": "duckdb"}, None) == "duckdb"
    assert resolve(None, str(tmp_path), {}, "the baseline comparison joins rows") == "local"


def test_what_an_engine_cannot_do_is_an_error(tmp_path):
    with pytest.raises(InputError, match="engine duckdb: only binary"):
        resolve(
            "duckdb", str(tmp_path / "p.parquet"), {}, "only binary predictions are computed out of process"
        )
    with pytest.raises(InputError, match="local engine reads one file"):
        resolve("local", str(tmp_path / "*.parquet"), {}, None)
    with pytest.raises(InputError, match="spark engine only"):
        resolve("duckdb", "table:db.scored", {}, None)


def test_spark_without_pyspark_is_one_line_exit_2(cli, tmp_path, monkeypatch):
    """An installation without the spark extra: the command says which extra to install, exit 2."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a)
    )
    predictions = tmp_path / "p.csv"
    predictions.write_text("label,score\n0,0.1\n1,0.9\n")
    result = cli("metrics", "--predictions", str(predictions), "--engine", "spark", "--no-audit")
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0 and "pip install 'mlgate[spark]'" in result.stderr
