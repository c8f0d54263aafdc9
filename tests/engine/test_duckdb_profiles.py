"""Drift reference profiles by DuckDB against the in-memory ones (gates.drift): the same counts, quantile
points, bins and categories, from one file and from a partitioned folder; and the drift gate on either."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.drift import write_profile

ROWS = 20_000


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    normal = rng.normal(10, 3, ROWS)
    normal[rng.random(ROWS) < 0.02] = np.nan  # NaN counts as missing
    table = pa.table(
        {
            "amount": pa.array(normal),
            "lognormal": rng.lognormal(0, 1, ROWS),
            "rounded": np.round(rng.normal(0, 1, ROWS), 1),  # few distinct values: exact profile, ties
            "count": rng.poisson(3, ROWS).astype(np.int64),
            "tied": rng.integers(0, 5000, ROWS).astype(np.float64),  # quantiles over ties (~4 rows a value)
            "flag": rng.integers(0, 2, ROWS).astype(np.int64),  # two values: categories
            "city": pa.array(
                [None if r < 0.03 else c for r, c in zip(rng.random(ROWS), rng.choice(["a", "b", "c"], ROWS))]
            ),
            "active": rng.random(ROWS) < 0.4,
            "day": pa.array(rng.integers(19000, 19100, ROWS).astype(np.int32), pa.date32()),
            "user_id": pa.array([f"u{i}" for i in range(ROWS)]),  # an identifier: skipped
            "part": rng.choice(["x", "y"], ROWS),
        }
    )
    folder = tmp_path_factory.mktemp("profiles")
    pq.write_table(table, folder / "ref.parquet")
    pq.write_to_dataset(table, folder / "parts", partition_cols=["part"])
    return {"single": folder / "ref.parquet", "parts": folder / "parts"}


def profiles(reference: Path, engine: str, tmp_path: Path) -> dict:
    target = tmp_path / f"{engine}-{reference.name}.json"
    section = {"engine": engine, "exclude": ["part"]}
    write_profile(section, reference, target, {})
    return json.loads(target.read_text())


def assert_close(a, b, where=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        np.testing.assert_allclose(
            np.asarray(b, dtype=float), np.asarray(a, dtype=float), rtol=1e-9, err_msg=where
        )
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9), where
    else:
        assert a == b, where


@pytest.mark.parametrize("where", ["single", "parts"])
def test_same_profiles_as_in_memory(reference, where, tmp_path):
    want = profiles(reference["single"], "local", tmp_path)
    got = profiles(reference[where], "duckdb", tmp_path)
    assert got["rows"] == want["rows"] == ROWS
    kinds = {name: c["kind"] for name, c in got["columns"].items()}
    assert (
        kinds["flag"] == "categorical" and kinds["user_id"] == "skipped" and kinds["lognormal"] == "numeric"
    )
    assert "quantiles" in got["columns"]["lognormal"] and "exact" in got["columns"]["rounded"]
    assert "quantiles" in got["columns"]["tied"]
    assert_close(want["columns"], got["columns"])


def test_drift_gate_same_verdict_on_either_engine(reference, cli, tmp_path):
    import pyarrow.parquet as pq

    current = tmp_path / "current.parquet"
    table = pq.read_table(reference["single"]).slice(0, 3000)
    pq.write_table(table, current)
    reports = {}
    for engine, ref in (("local", reference["single"]), ("duckdb", reference["parts"])):
        result = cli(
            "drift",
            "--reference",
            str(ref),
            "--current",
            str(current),
            "--engine",
            engine,
            "--exclude",
            "part",
            "--report-dir",
            str(tmp_path / engine),
            "--no-audit",
            "--no-plots",
        )
        assert result.code in (0, 1), result.stderr
        reports[engine] = json.loads((tmp_path / engine / "drift.json").read_text())["gates"][0]["checks"]
    values = {e: {c["name"]: (c["status"], c["value"]) for c in checks} for e, checks in reports.items()}
    assert values["local"].keys() == values["duckdb"].keys()
    for name, (status, value) in values["local"].items():
        assert values["duckdb"][name][0] == status, name
        if value is not None:
            assert values["duckdb"][name][1] == pytest.approx(value, rel=1e-9, nan_ok=True), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6, allow_nan=False, width=32)),
        min_size=1,
        max_size=300,
    ),
    st.lists(st.floats(0, 1), min_size=1, max_size=40),
)
def test_quantiles_and_their_counts_from_one_sort(values, probs):
    """The order statistics' quantiles are the in-memory profile's (drift_profiles.linear_quantiles, numpy's
    linear method to an ulp), bit for bit; each count the sort gives is
    the number of values at or below the quantile (ties included: values drawn from few integers), and the
    counts it cannot give are left to the counting pass (NaN)."""
    import duckdb
    import pyarrow as pa

    from gates.engine.duckdb_profiles import _quantiles
    from gates.stats.drift_profiles import linear_quantiles

    x = np.asarray(values, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    con = duckdb.connect()
    con.register("column_values", pa.table({"x": x}))
    got, counts = _quantiles(lambda sql: con.sql(sql).to_arrow_table(), "column_values", p, x.size)
    want = linear_quantiles(np.sort(x), p)
    np.testing.assert_array_equal(got, want)
    known = ~np.isnan(counts)
    assert known.mean() > 0.5
    np.testing.assert_array_equal(counts[known], [(x <= q).sum() for q in got[known]])


def test_points_the_sort_does_not_count_are_counted_by_the_asof_pass(reference, monkeypatch, tmp_path):
    """A quantile that rounding put outside its two order statistics gets no count from the sort; the ASOF
    pass counts it. With every count left to that pass, the profiles are still the in-memory ones."""
    import dataclasses

    from gates.engine import duckdb_profiles

    sort_only = duckdb_profiles._quantiles

    def uncounted(query, finite, probs, n):
        return sort_only(query, finite, probs, n)[0], np.full(probs.size, np.nan)

    monkeypatch.setattr(
        duckdb_profiles, "DUCKDB", dataclasses.replace(duckdb_profiles.DUCKDB, quantiles=uncounted)
    )
    want = profiles(reference["single"], "local", tmp_path)
    got = profiles(reference["single"], "duckdb", tmp_path)
    assert "quantiles" in got["columns"]["tied"]
    assert_close(want["columns"], got["columns"])
