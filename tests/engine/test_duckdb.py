"""The DuckDB engine against the local one: the same cells, hence the same numbers, from one file, a
hive-partitioned folder, a glob and CSV; its grid; its one-line errors; and any bytes as input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.engine import duckdb as engine
from gates.engine import local
from tests.engine.data import SECTION, write

FEATURES = ["sex", "band"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def reference(files):
    return local.tabulate(files["single"], {**SECTION, "streaming": True}, sensitive=FEATURES, where="bias")


def assert_same_cells(a, b) -> None:
    assert a.levels == b.levels and a.classes == b.classes
    assert a.cells.columns.keys() == b.cells.columns.keys()
    for name, values in a.cells.columns.items():
        np.testing.assert_allclose(b.cells.columns[name], values, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(a.cells.counts, b.cells.counts)
    np.testing.assert_array_equal(a.cells.strata, b.cells.strata)


@pytest.mark.parametrize("where", ["single", "parts", "glob", "csv"])
def test_same_cells_as_local(files, reference, where):
    text = str(files["parts"] / "*" / "*.parquet") if where == "glob" else str(files[where])
    got = engine.tabulate(text, {**SECTION, "task": "binary"}, {"threads": 2}, FEATURES)
    assert got.streaming["rows"] == 30_000 and got.streaming["exact"]
    assert_same_cells(reference, got)


def test_same_metrics_and_intervals(files, reference):
    from gates.metrics import point_and_samples

    got = engine.tabulate(str(files["parts"]), {**SECTION, "task": "binary"}, {}, [])
    want = local.tabulate(files["single"], {**SECTION, "streaming": True})
    p1, s1, _ = point_and_samples(want, None, 200, 3)
    p2, s2, _ = point_and_samples(got, None, 200, 3)
    assert p1.keys() == p2.keys() and s1.keys() == s2.keys()
    for key in p1:
        assert p2[key] == pytest.approx(p1[key], abs=1e-9, nan_ok=True)
    for key in s1:
        np.testing.assert_allclose(s2[key], s1[key], atol=1e-9)


def test_grid_above_max_cells(files):
    """Past max_cells rows the scores go onto the grid; counts stay exact, losses are the exact rows' means."""
    exact = engine.tabulate(str(files["single"]), {**SECTION, "task": "binary"}, {}, [])
    grid = engine.tabulate(str(files["single"]), {**SECTION, "task": "binary"}, {}, [], max_cells=4096)
    assert grid.streaming["score_grid"] == "2^-9" and grid.cells.size <= 4096
    assert grid.cells.counts.sum() == exact.cells.counts.sum() == 30_000
    from gates.stats.metrics import binary_losses

    losses = binary_losses(exact.cells.columns["y"], exact.cells.columns["score"])
    for name in ("log_loss", "brier"):
        total = float((grid.cells.columns[name] * grid.cells.counts).sum())
        assert total == pytest.approx(float((losses[name] * exact.cells.counts).sum()), rel=1e-12)


def test_errors_are_one_line(files, tmp_path):
    section = {**SECTION, "task": "binary"}
    with pytest.raises(InputError, match="'band'.*missing_group"):
        engine.tabulate(str(files["single"]), {"positive_label": "fraud", "task": "binary"}, {}, FEATURES)
    with pytest.raises(InputError, match="'nope'"):
        engine.tabulate(str(files["single"]), {**section, "columns": {"label": "nope"}}, {}, [])
    with pytest.raises(InputError, match="value 'fraud' .* not one of the declared classes"):
        engine.tabulate(
            str(files["single"]), {**section, "classes": ["ok", "x"], "positive_label": "x"}, {}, []
        )
    with pytest.raises(InputError, match="no file matches"):
        engine.tabulate(str(tmp_path / "none-*.parquet"), section, {}, [])
    with pytest.raises(InputError, match="httpfs"):  # not installed on this machine: said so, exit 2
        engine.tabulate("https://example.invalid/predictions.parquet", section, {}, [])
    # s3:// goes through pyarrow's S3 client (tests/engine/test_objectstore.py), not httpfs


def test_reads_only_the_source(files, tmp_path):
    """External access is off: a view over the source cannot be turned into a read of another file."""
    con, _ = engine.connect(engine.source_of(str(files["single"])), {})
    with pytest.raises(Exception, match="(?i)permission|disabled"):
        con.sql("SELECT * FROM read_csv('/etc/hostname')").fetchall()
    with pytest.raises(Exception, match="(?i)lock|configuration"):
        con.execute("SET enable_external_access = true")
    con.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".csv", ".parquet"]))
def test_any_bytes_give_cells_or_one_input_error(tmp_path, data, suffix):
    path = tmp_path / f"p{suffix}"
    path.write_bytes(data)
    try:
        got = engine.tabulate(str(path), {"task": "binary"}, {}, [])
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert got.cells.counts.sum() > 0


def test_gates_give_the_same_report_on_every_engine(files, cli, tmp_path):
    """metrics and bias through the CLI, local vs DuckDB over the partitioned folder: the same checks."""
    import json

    reports = {}
    for name, predictions in (("local", files["single"]), ("duckdb", files["parts"])):
        for gate, extra in (("metrics", ["--min", "roc_auc=0.5"]), ("bias", ["--sensitive", "sex"])):
            result = cli(
                gate,
                "--predictions",
                str(predictions),
                "--positive-label",
                "fraud",
                "--engine",
                name,
                "--resamples",
                "200",
                "--report-dir",
                str(tmp_path / name),
                "--no-audit",
                *extra,
            )
            assert result.code in (0, 1), result.stderr
            reports[name, gate] = json.loads((tmp_path / name / f"{gate}.json").read_text())["gates"][0]
    for gate in ("metrics", "bias"):
        local_checks, duckdb_checks = reports["local", gate]["checks"], reports["duckdb", gate]["checks"]
        assert [c["value"] for c in local_checks] == pytest.approx(
            [c["value"] for c in duckdb_checks], abs=1e-9
        )
        assert [c.get("ci") for c in local_checks] == [c.get("ci") for c in duckdb_checks]
    assert reports["duckdb", "bias"]["evidence"]["streaming"]["engine"] == "duckdb"
