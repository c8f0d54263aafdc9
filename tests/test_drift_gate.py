"""Drift gate: tests and distances by kind in the report, BH across columns, profile == raw reference, degenerate
cases, timestamps, the CLI, and the example's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates import drift
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.readers.columns import ColumnSource, build_profile, load_profile
from gates.stats import drift as ds

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def tables(tmp_path: Path, reference: dict, current: dict, kind: str = "parquet") -> tuple[str, str]:
    names = []
    for name, data in (("reference", reference), ("current", current)):
        path = tmp_path / f"{name}.{kind}"
        frame = pd.DataFrame(data)
        frame.to_parquet(path) if kind == "parquet" else frame.to_csv(path, index=False)
        names.append(path.name)
    return names[0], names[1]


def by_column(result) -> dict:
    return {c["column"]: c for c in result.evidence["columns"]}


# ------------------------------------------------------------------------------------------ tests and distances
def test_test_and_distance_by_kind_whatever_the_reference_size(tmp_path):
    """No switch at 1000 reference rows: KS + Wasserstein / std for numbers, chi-square + total variation for
    categories, and the report states test, statistic, p-values, distance, tolerance and the correction."""
    rng = np.random.default_rng(4)
    for n in (800, 3000):
        reference = {
            "num": rng.normal(size=n),
            "two": rng.choice(["a", "b"], n),
            "three": rng.choice(list("abc"), n),
            "flag": rng.integers(0, 2, n),
        }
        current = {k: v[:600] for k, v in reference.items()}
        ref, cur = tables(tmp_path, reference, current)
        result = drift.run({"reference": ref, "current": cur}, ctx(tmp_path))
        columns = by_column(result)
        assert {k: (c["test"], c["distance"]) for k, c in columns.items()} == {
            "num": ("ks", "wasserstein"),
            "two": ("chisquare", "tvd"),
            "three": ("chisquare", "tvd"),
            "flag": ("chisquare", "tvd"),  # numbers with two values are categories
        }
        for name, column in columns.items():
            assert column["correction"] == "bh" and column["alpha"] == 0.05
            assert column["p_adjusted"] >= column["p_value"]
            assert column["tolerance"] == ds.DEFAULT_TOLERANCES[column["distance"]]
            check = next(c for c in result.checks if c.name == f"column:{name}")
            assert check.threshold == f"p (bh) >= 0.05 or {column['distance']} <= {column['tolerance']:g}"
        settings = result.evidence["settings"]
        assert settings["correction_method"] == "Benjamini-Hochberg"
        assert settings["tests"] == {"numeric": "ks", "categorical": "chisquare"}
    table = result.evidence["tables"]["Drift per column"]
    assert "| num | numeric | ks (approx.) |" in table  # 3000 distinct values: quantile summary
    assert "p-value (Benjamini-Hochberg)" in table


def test_per_column_and_per_kind_overrides(tmp_path):
    rng = np.random.default_rng(5)
    ref, cur = tables(
        tmp_path,
        {"a": rng.normal(size=3000), "b": rng.choice(list("xyz"), 3000)},
        {"a": rng.normal(size=2000), "b": rng.choice(list("xyz"), 2000)},
    )
    section = {
        "reference": ref,
        "current": cur,
        "per_column": {"a": {"distance": "psi", "tolerance": 0.25}},
        "distances": {"categorical": "jensenshannon"},
        "tolerances": {"jensenshannon": 0.01},
        "alpha": 0.01,
        "correction": "holm",
    }
    columns = by_column(drift.run(section, ctx(tmp_path)))
    assert (columns["a"]["distance"], columns["a"]["tolerance"]) == ("psi", 0.25)
    assert (columns["b"]["distance"], columns["b"]["tolerance"]) == ("jensenshannon", 0.01)
    assert columns["a"]["alpha"] == 0.01 and columns["b"]["correction"] == "holm"
    bad = drift.run({**section, "per_column": {"a": {"distance": "tvd"}}}, ctx(tmp_path))
    assert by_column(bad)["a"]["status"] == "invalid_test"
    assert next(c for c in bad.checks if c.name == "column:a").status is Status.ERROR


def test_benjamini_hochberg_runs_across_the_columns_of_one_report(tmp_path):
    """The adjusted p-values of one run are BH of that run's p-values (scipy's false_discovery_control)."""
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(14)
    ref, cur = tables(
        tmp_path,
        {f"c{i}": rng.normal(size=2000) for i in range(6)},
        {f"c{i}": rng.normal(0.08 * i, 1, 400) for i in range(6)},
    )
    columns = drift.run({"reference": ref, "current": cur}, ctx(tmp_path)).evidence["columns"]
    p = np.array([c["p_value"] for c in columns])
    assert np.allclose([c["p_adjusted"] for c in columns], false_discovery_control(p), rtol=1e-12)


def test_timestamp_columns_are_judged_as_seconds_in_any_unit_and_zone(tmp_path):
    """Issue 13: timestamps (any unit, with or without a time zone), dates, times and durations are compared
    as seconds, so a reference in nanoseconds and a batch in microseconds agree; no traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 500
    base = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(n) * 3600
    reference = pa.table(
        {
            "ts": pa.array(base.astype("datetime64[ns]"), pa.timestamp("ns", tz="Europe/Berlin")),
            "naive": pa.array(base.astype("datetime64[ms]")),
            "day": pa.array(base.astype("datetime64[D]")),
            "took": pa.array((np.arange(n) % 60).astype("timedelta64[s]")),
        }
    )
    current = pa.table(
        {
            "ts": pa.array(base[:300].astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "naive": pa.array(base[:300].astype("datetime64[us]")),
            "day": pa.array(base[:300].astype("datetime64[D]")),
            "took": pa.array((np.arange(300) % 60).astype("timedelta64[s]").astype("timedelta64[ms]")),
        }
    )
    pq.write_table(reference, tmp_path / "r.parquet")
    pq.write_table(current, tmp_path / "c.parquet")
    columns = by_column(drift.run({"reference": "r.parquet", "current": "c.parquet"}, ctx(tmp_path)))
    assert all(c["kind"] == "numeric" and c["test"] == "ks" for c in columns.values()), columns
    assert columns["took"]["drifted"] is False and columns["took"]["statistic"] < 0.05
    assert columns["ts"]["drifted"] is True  # the batch covers the first 300 hours only: a real shift
    assert columns["ts"]["distance_value"] == columns["naive"]["distance_value"]
    save = {"reference": "r.parquet", "current": "c.parquet", "save_profile": "p.json"}
    drift.run(save, ctx(tmp_path))
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["columns"]["ts"]["unit"] == "seconds"
    del document["columns"]["ts"]["unit"]  # as a profile written before times were judged in seconds
    (tmp_path / "old.json").write_text(json.dumps(document))
    old = by_column(drift.run({"reference": "old.json", "current": "c.parquet"}, ctx(tmp_path)))["ts"]
    assert old["status"] == "type_mismatch" and "write the profile again" in old["reason"]
    (tmp_path / "t.csv").write_text("at\n" + "".join(f"{h % 24:02d}:00:00\n" for h in range(200)))
    times = by_column(drift.run({"reference": "t.csv", "current": "t.csv"}, ctx(tmp_path)))["at"]
    assert (times["kind"], times["status"]) == ("numeric", "no_drift")  # time32 from CSV: no traceback


# ------------------------------------------------------------------------------------- profile == raw data
@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_stored_profile_gives_the_same_answer_as_raw_reference(tmp_path, kind):
    rng = np.random.default_rng(6)
    n = 5000
    reference = {
        "small_int": rng.poisson(4, n),
        "cont": rng.gamma(2, 3, n),
        "cat": rng.choice(list("abcd"), n),
        "flag": rng.integers(0, 2, n),
        "ident": [f"id{i}" for i in range(n)],
    }
    current = {
        "small_int": rng.poisson(4.4, 3000),
        "cont": rng.gamma(2.2, 3, 3000),
        "cat": rng.choice(list("abcde"), 3000),
        "flag": rng.integers(0, 2, 3000),
        "ident": [f"id{i}" for i in range(3000)],
    }
    ref, cur = tables(tmp_path, reference, current, kind)
    for distance in ["wasserstein", "psi", "jensenshannon"]:
        section = {
            "reference": ref,
            "current": cur,
            "save_profile": "profile.json",
            "distances": {"numeric": distance},
        }
        raw = drift.run(section, ctx(tmp_path))
        stored = drift.run(
            {"profile": "profile.json", "current": cur, "distances": {"numeric": distance}}, ctx(tmp_path)
        )
        assert raw.evidence["columns"] == stored.evidence["columns"]
        assert [c.to_dict() for c in raw.checks] == [c.to_dict() for c in stored.checks]
    profiles, meta = load_profile(tmp_path / "profile.json")
    assert meta["rows"] == n and meta["sha256"]
    assert profiles["ident"].kind == "skipped"
    assert by_column(raw)["ident"]["status"] == "skipped"


def test_profile_command_and_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gates.cli import cli

    rng = np.random.default_rng(7)
    ref, cur = tables(
        tmp_path,
        {"a": rng.normal(size=2000), "b": rng.choice(list("xy"), 2000)},
        {"a": rng.normal(1, 1, 500), "b": rng.choice(list("xy"), 500)},
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["--no-audit", "drift", "profile", "--reference", ref, "--out", "p.json"], standalone_mode=False
    )
    assert out.exception is None and out.return_value == 0, out.output
    assert "2 columns" in out.output
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["mlgate_drift_profile"] == 1 and set(document["columns"]) == {"a", "b"}
    for args in (
        ["drift", "--reference", "p.json", "--current", cur],
        ["drift", "check", "--reference", "p.json", "--current", cur, "--share", "0.5"],
    ):
        out = runner.invoke(cli, ["--no-audit", "--report-dir", "rep", *args], standalone_mode=False)
        assert out.exception is None, out.output
        assert out.return_value == 1  # a drifts (1 of 2 columns reaches the 0.5 share)
    report = json.loads((tmp_path / "rep" / "drift.json").read_text())
    assert report["gates"][0]["summary"]["share"] == 0.5
    flags = ["--correction", "holm", "--alpha", "0.01", "--tolerance", "wasserstein=2", "--distance", "b=psi"]
    out = runner.invoke(
        cli,
        ["--no-audit", "--report-dir", "rep", "drift", "--reference", "p.json", "--current", cur, *flags],
        standalone_mode=False,
    )
    assert out.return_value == 0, out.output  # a shift of 1 sd is within a tolerance of 2 sd
    column = json.loads((tmp_path / "rep" / "drift.json").read_text())["gates"][0]["evidence"]["columns"][0]
    assert (column["correction"], column["alpha"], column["tolerance"]) == ("holm", 0.01, 2)
    assert "within tolerance 2" in column["reason"]
    missing = runner.invoke(
        cli, ["--no-audit", "drift", "profile", "--reference", ref], standalone_mode=False
    )
    assert isinstance(missing.exception, InputError) and "give --out (or drift.profile" in str(
        missing.exception
    )


# ------------------------------------------------------------------------------------------ degenerate cases
def test_degenerate_columns_get_a_named_status_and_reason(tmp_path):
    rng = np.random.default_rng(8)
    n, m = 2000, 1500
    reference = {
        "constant_same": np.full(n, 3.0),
        "constant_changed": np.full(n, 3.0),
        "all_nan_ref": np.full(n, np.nan),
        "all_nan_cur": rng.normal(size=n),
        "unseen": rng.choice(["a", "b", "c"], n),
        "tiny": np.r_[rng.normal(size=20), np.full(n - 20, np.nan)],
        "text_for_numbers": rng.normal(size=n),
        "gone": rng.normal(size=n),
        "ok": rng.normal(size=n),
        "const_cat": np.full(n, "x"),
    }
    current = {
        "constant_same": np.full(m, 3.0),
        "constant_changed": np.r_[np.full(m - 300, 3.0), np.full(300, 4.0)],
        "all_nan_ref": rng.normal(size=m),
        "all_nan_cur": np.full(m, np.nan),
        "unseen": np.r_[rng.choice(["a", "b", "c"], m - 5), ["zzz"] * 5],
        "tiny": rng.normal(size=m),
        "text_for_numbers": ["n/a"] * m,
        "ok": rng.normal(size=m),
        "const_cat": np.full(m, "x"),
    }
    ref, cur = tables(tmp_path, reference, current)
    result = drift.run({"reference": ref, "current": cur}, ctx(tmp_path))
    columns = by_column(result)
    checks = {c.name: c for c in result.checks}
    expect = {
        "constant_same": ("constant", False, Status.PASS),
        "constant_changed": ("drift", True, Status.WARN),
        "all_nan_ref": ("all_null", None, Status.WARN),
        "all_nan_cur": ("all_null", True, Status.WARN),
        "unseen": ("unseen_categories", False, Status.WARN),
        "tiny": ("tiny_sample", None, Status.WARN),
        "text_for_numbers": ("type_mismatch", None, Status.ERROR),
        "gone": ("missing", None, Status.ERROR),
        "ok": ("no_drift", False, Status.PASS),
        "const_cat": ("constant", False, Status.PASS),
    }
    for name, (status, drifted, check_status) in expect.items():
        assert (columns[name]["status"], columns[name]["drifted"]) == (status, drifted), name
        assert checks[f"column:{name}"].status is check_status, name
        assert columns[name]["reason"], name
    assert "the reference is constant (3)" in columns["constant_changed"]["reason"]
    assert "share of other values" in " ".join(columns["constant_changed"]["notes"])
    assert "1 category unseen in the reference" in columns["unseen"]["reason"]
    assert "'zzz' (0.33% of current rows)" in " ".join(columns["unseen"]["notes"])
    assert "minimum 30" in columns["tiny"]["reason"]
    share = checks["dataset_drift"]
    assert share.details["judged"] == 6 and share.details["drifted"] == ["constant_changed", "all_nan_cur"]


def test_no_judged_column_is_an_error_and_share_decides(tmp_path):
    rng = np.random.default_rng(10)
    ref, cur = tables(tmp_path, {"a": rng.normal(size=10)}, {"a": rng.normal(size=10)})
    result = drift.run({"reference": ref, "current": cur}, ctx(tmp_path))
    assert result.status is Status.ERROR and "no column could be judged" in result.checks[-1].why
    data_ref = {f"c{i}": rng.normal(size=3000) for i in range(4)}
    data_cur = {f"c{i}": rng.normal(1.0 if i < 2 else 0.0, 1, 2000) for i in range(4)}
    ref, cur = tables(tmp_path, data_ref, data_cur)
    result = drift.run({"reference": ref, "current": cur}, ctx(tmp_path))
    assert result.summary == {"share": 0.5, "drifted": 2, "columns": 4}
    assert result.status is Status.FAIL  # 50% reaches the default share of 0.5
    assert drift.run({"reference": ref, "current": cur, "share": 0.6}, ctx(tmp_path)).status is Status.WARN
    critical = drift.run(
        {"reference": ref, "current": cur, "share": 0.6, "per_column": {"c0": {"critical": True}}},
        ctx(tmp_path),
    )
    assert critical.status is Status.FAIL


def test_model_outputs_are_judged_on_their_own(tmp_path):
    rng = np.random.default_rng(11)
    ref, cur = tables(
        tmp_path,
        {"x": rng.normal(size=3000), "score": rng.beta(2, 5, 3000)},
        {"x": rng.normal(size=2000), "score": rng.beta(2, 3, 2000)},
    )
    result = drift.run({"reference": ref, "current": cur, "outputs": {"columns": ["score"]}}, ctx(tmp_path))
    checks = {c.name: c for c in result.checks}
    assert "column:score" not in checks and checks["output:score"].status is Status.FAIL
    assert checks["dataset_drift"].status is Status.PASS and result.summary["columns"] == 1


def test_bad_inputs_are_input_errors(tmp_path):
    rng = np.random.default_rng(12)
    ref, cur = tables(tmp_path, {"a": rng.normal(size=100)}, {"a": rng.normal(size=100)})
    with pytest.raises(InputError, match="drift.columns names 'nope'"):
        drift.run({"reference": ref, "current": cur, "columns": ["nope"]}, ctx(tmp_path))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="not an mlgate drift profile"):
        drift.run({"reference": "bad.json", "current": cur}, ctx(tmp_path))
    with pytest.raises(InputError, match="not found"):
        drift.run({"reference": "missing.parquet", "current": cur}, ctx(tmp_path))


def test_column_source_reads_only_what_is_asked(tmp_path):
    rng = np.random.default_rng(13)
    ref, _ = tables(tmp_path, {"a": rng.normal(size=50), "b": rng.normal(size=50)}, {"a": [1.0]})
    source = ColumnSource(tmp_path / ref)
    assert source.rows == 50 and list(source.read(["b"])) == ["b"]
    profile = build_profile(source.read(["a"])["a"])
    assert profile.kind == "numeric" and profile.count == 50


@pytest.mark.skipif(not (EXAMPLES / "current_drifted.parquet").exists(), reason="example data not generated")
@pytest.mark.parametrize("share", [0.3, None], ids=["example-policy", "default-share"])
def test_example_fresh_sample_passes_and_drifted_copy_fails(tmp_path, share):
    """The example's drifted copy shifts income, debt ratio, employment and region (num_open_accounts follows the
    debt ratio): exactly those five of nine columns drift, each clearly past its threshold, so the copy fails with
    the example policy's share (0.3) and with the default share (0.5); the fresh sample drifts nowhere."""
    section = {
        "reference": str(EXAMPLES / "reference.parquet"),
        "current": str(EXAMPLES / "current.parquet"),
        "exclude": ["applicant_id", "default"],
        **({"share": share} if share is not None else {}),
    }
    fresh = drift.run(section, ctx(tmp_path))
    drifted = drift.run({**section, "current": str(EXAMPLES / "current_drifted.parquet")}, ctx(tmp_path))
    assert fresh.status is Status.PASS and fresh.summary["drifted"] == 0
    assert drifted.status is Status.FAIL
    assert drifted.evidence["drifted"] == [
        "income",
        "debt_ratio",
        "num_open_accounts",
        "employment",
        "region",
    ]
    assert drifted.summary == {"share": round(5 / 9, 6), "drifted": 5, "columns": 9}
    columns = {c["column"]: c for c in drifted.evidence["columns"]}
    assert {name: c["test"] for name, c in columns.items() if c["kind"] == "categorical"} == dict.fromkeys(
        ["employment", "region", "sex", "age_band"], "chisquare"
    )
    # margins: every drifted column overwhelmingly significant and at least twice its tolerance; the fresh
    # sample's columns all within their tolerance
    for name, column in columns.items():
        if name in drifted.evidence["drifted"]:
            assert column["p_adjusted"] < 1e-6 and column["distance_value"] >= 2 * column["tolerance"], name
    assert all(c["distance_value"] < c["tolerance"] for c in fresh.evidence["columns"])
    share_check = next(c for c in drifted.checks if c.name == "dataset_drift")
    assert share_check.status is Status.FAIL and share_check.value == pytest.approx(5 / 9)
