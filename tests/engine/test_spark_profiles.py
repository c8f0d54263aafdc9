"""Drift reference profiles on Spark (local[2]) against the local engine's and DuckDB's: the same counts,
nulls, quantile points, bins and categories, from one file and from a hive-partitioned folder read as
several partitions, on data with NaN, nulls, ties, two-valued numbers, dates and an identifier column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gates.drift import write_profile
from tests.engine import test_duckdb_profiles as duckdb_profiles
from tests.engine.test_duckdb_profiles import ROWS, assert_close, profiles

reference = duckdb_profiles.reference  # the DuckDB profile tests' reference data, as a fixture here too

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(300)
SPARK = {
    "spark": {"master": "local[2]", "conf": {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 3}}
}


@pytest.fixture(scope="module", autouse=True)
def spark_session(spark):
    """The tests' shared session is active before any CLI run here, so mlgate's session() returns it."""
    return spark


def spark_profiles(source: Path, tmp_path: Path, **section) -> dict:
    target = tmp_path / f"spark-{source.name}.json"
    write_profile({"engine": "spark", "exclude": ["part"], **section}, source, target, SPARK)
    return json.loads(target.read_text())


@pytest.mark.parametrize("where", ["single", "parts"])
def test_same_profiles_as_local_and_duckdb(reference, where, tmp_path):
    want = profiles(reference["single"], "local", tmp_path)
    duck = profiles(reference[where], "duckdb", tmp_path)
    got = spark_profiles(reference[where], tmp_path)
    assert got["rows"] == want["rows"] == ROWS
    kinds = {name: c["kind"] for name, c in got["columns"].items()}
    assert kinds["flag"] == "categorical" and kinds["user_id"] == "skipped" and kinds["day"] == "numeric"
    assert "quantiles" in got["columns"]["lognormal"] and "exact" in got["columns"]["rounded"]
    assert got["columns"]["amount"]["nulls"] == want["columns"]["amount"]["nulls"] > 0
    assert got["columns"]["city"]["nulls"] == want["columns"]["city"]["nulls"] > 0
    assert_close(want["columns"], got["columns"])
    assert_close(duck["columns"], got["columns"])


def test_fine_quantiles_over_many_sorted_partitions(reference, tmp_path):
    """More quantile points than rows per partition: every rank is found across partition boundaries."""
    settings = {"profile_settings": {"quantiles": 2000, "bins": 50}, "columns": ["lognormal", "amount"]}
    want = profiles_with(reference["single"], "local", tmp_path, settings)
    got = spark_profiles(reference["parts"], tmp_path, **settings)
    assert_close(want["columns"], got["columns"])


def profiles_with(source: Path, engine: str, tmp_path: Path, settings: dict) -> dict:
    target = tmp_path / f"{engine}-{source.name}-fine.json"
    write_profile({"engine": engine, "exclude": ["part"], **settings}, source, target, {})
    return json.loads(target.read_text())


def test_drift_profile_command_on_spark(reference, cli, tmp_path):
    policy = tmp_path / "gates.yml"
    policy.write_text(json.dumps({"version": 1, "engine": SPARK}))
    out = tmp_path / "ref.json"
    result = cli(
        "--policy",
        str(policy),
        "drift",
        "profile",
        "--reference",
        str(reference["parts"]),
        "--engine",
        "spark",
        "--exclude",
        "part",
        "--out",
        str(out),
    )
    assert result.code == 0, result.stderr
    assert json.loads(out.read_text())["rows"] == ROWS


def test_drift_gate_on_a_spark_reference_equals_local(reference, cli, tmp_path):
    """`mlgate drift --engine spark` with a raw reference: the gate's checks of the local engine."""
    import pyarrow.parquet as pq

    current = tmp_path / "current.parquet"
    pq.write_table(pq.read_table(reference["single"]).slice(0, 3000), current)
    policy = tmp_path / "gates.yml"
    policy.write_text(json.dumps({"version": 1, "engine": SPARK}))
    values = {}
    for engine, ref in (("local", reference["single"]), ("spark", reference["parts"])):
        out = tmp_path / engine
        result = cli(
            "--policy", str(policy), "drift", "--reference", str(ref), "--current", str(current),
            "--engine", engine, "--exclude", "part", "--report-dir", str(out), "--no-audit", "--no-plots",
        )  # fmt: skip
        assert result.code in (0, 1), result.stderr
        checks = json.loads((out / "drift.json").read_text())["gates"][0]["checks"]
        values[engine] = {c["name"]: (c["status"], c["value"]) for c in checks}
    assert values["spark"].keys() == values["local"].keys()
    for name, (status, value) in values["local"].items():
        assert values["spark"][name][0] == status, name
        if value is not None:
            assert values["spark"][name][1] == pytest.approx(value, rel=1e-9, nan_ok=True), name


def test_distinct_estimate_skips_the_exact_count_only_far_past_the_limit(tmp_path, monkeypatch):
    """Spark estimates each numeric column's distinct values in the summaries' scan (HyperLogLog++ at 1%);
    past ten times the limit plus twice the registers the column surely has too many values for an exact
    profile, and the capped DISTINCT (a shuffle of every value) is not run. At the limit itself, and just
    over it, the exact count decides: the profiles are the local engine's either way."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gates.engine import duckdb_profiles

    rng = np.random.default_rng(5)
    rows = 120_000
    path = tmp_path / "distinct.parquet"
    pq.write_table(
        pa.table(
            {
                "continuous": rng.normal(0, 1, rows),  # 120,000 values: skipped
                "at_limit": rng.integers(0, 2000, rows).astype(np.float64),  # 2,000 values: exact
                "over_limit": rng.integers(0, 2001, rows).astype(np.float64),  # 2,001: quantiles
            }
        ),
        path,
    )
    counted: list[str] = []
    original = duckdb_profiles._many_values

    def spied(query, finite, estimate, exact_limit):
        many = original(query, finite, estimate, exact_limit)
        counted.append(f"{finite.split(' AS x')[0].split('`')[1]}:{estimate}:{many}")
        return many

    monkeypatch.setattr(duckdb_profiles, "_many_values", spied)
    want = profiles_with(path, "local", tmp_path, {})
    got = spark_profiles(path, tmp_path)
    kinds = {name: "exact" if "exact" in c else "quantiles" for name, c in got["columns"].items()}
    assert kinds == {"continuous": "quantiles", "at_limit": "exact", "over_limit": "quantiles"}
    assert_close(want["columns"], got["columns"])
    estimates = {entry.split(":")[0]: int(entry.split(":")[1]) for entry in counted}
    assert estimates["continuous"] > 10 * 2000 + 2 * (1 << 14)
    assert estimates["at_limit"] <= 2134 and estimates["over_limit"] <= 2135
