"""Drift gate: every test statistic against scipy, profile == raw reference, test choice, degenerate cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from numpy.testing import assert_allclose
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from gates import drift
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.readers.columns import ColumnSource, build_profile, load_profile
from gates.stats import drift as ds

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    monkeypatch.setenv("MLGATE_PLOTS", "0")


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


# ------------------------------------------------------------------------------------ statistics vs scipy
@pytest.mark.parametrize("n_ref,n_cur", [(300, 200), (900, 40000), (20000, 15000)])
def test_ks_equals_scipy_on_an_exact_reference(n_ref, n_cur):
    rng = np.random.default_rng(n_ref)
    ref = np.round(rng.normal(0, 1, n_ref), 2)  # ties, and at most 2000 distinct values: stored exactly
    cur = np.round(rng.normal(0.1, 1.1, n_cur), 2)
    profile = ds.profile_numeric(ref)
    assert profile.exact
    result = ds.ks_test(profile, np.sort(cur))
    expected = st.ks_2samp(ref, cur)
    assert_allclose(result.extra["d"], expected.statistic, rtol=1e-12)
    assert_allclose(result.statistic, expected.pvalue, rtol=1e-9, atol=1e-300)
    assert not result.approximate


def test_ks_from_quantiles_is_close_and_says_it_is_approximate():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 50000), rng.normal(0.03, 1, 40000)
    result = ds.ks_test(ds.profile_numeric(ref), np.sort(cur))
    expected = st.ks_2samp(ref, cur)
    assert result.approximate and "quantile points" in result.notes[0]
    assert abs(result.extra["d"] - expected.statistic) < 2e-3
    assert result.extra["d"] <= expected.statistic + 1e-12  # a lower bound of the exact D


@pytest.mark.parametrize("exact", [True, False])
def test_wasserstein_equals_scipy(exact):
    rng = np.random.default_rng(2)
    if exact:
        ref, cur = rng.poisson(3, 30000).astype(float), rng.poisson(3.3, 20000).astype(float)
    else:
        ref, cur = rng.lognormal(0, 1, 60000), rng.lognormal(0.1, 1.1, 50000)  # skewed: the hard case
    profile = ds.profile_numeric(ref)
    assert profile.exact is exact
    distance, approximate = ds.wasserstein(profile, np.sort(cur))
    expected = st.wasserstein_distance(ref, cur)
    assert approximate is not exact
    if exact:
        assert_allclose(distance, expected, rtol=1e-12)
    else:  # off by far less than the decision scale (thresholds are ~0.1 reference std)
        assert abs(distance - expected) / np.std(ref) < 1e-3
        assert_allclose(distance, expected, rtol=5e-3)
    result = ds.compare_numeric("x", profile, cur, test="wasserstein")
    assert_allclose(result.statistic, distance / np.std(ref), rtol=1e-12)  # normalised by the reference std


def test_chisquare_z_jensen_shannon_and_psi_equal_scipy():
    ref = np.array([120.0, 300.0, 80.0, 0.0])
    cur = np.array([100.0, 260.0, 110.0, 30.0])  # last category unseen in the reference
    chi2, p, dof = ds.chi_square(ref, cur)
    expected = st.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert_allclose([chi2, p, dof], [expected.statistic, expected.pvalue, expected.dof], rtol=1e-12)
    z, p = ds.z_test(np.array([40.0, 60.0]), np.array([55.0, 45.0]))
    two_by_two = st.chi2_contingency(np.array([[40, 60], [55, 45]]), correction=False)
    assert_allclose([z**2, p], [two_by_two.statistic, two_by_two.pvalue], rtol=1e-12)
    assert_allclose(ds.jensen_shannon(ref, cur), jensenshannon(ref / ref.sum(), cur / cur.sum()), rtol=1e-12)
    value, empty = ds.psi(ref, cur)
    r = np.where(ref == 0, ds.EPSILON, ref / ref.sum())
    c = np.where(cur == 0, ds.EPSILON, cur / cur.sum())
    assert_allclose(value, np.sum(rel_entr(c, r) + rel_entr(r, c)), rtol=1e-12)  # PSI = symmetric KL
    assert empty == 1


def test_binned_numeric_tests_use_right_closed_reference_quantile_bins():
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(0, 1, 5000), rng.normal(0.2, 1, 4000)
    profile = ds.profile_numeric(ref)
    edges = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    assert_allclose(profile.bin_edges, edges, rtol=1e-12)
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10)
    assert_allclose(profile.bin_counts, ref_counts)
    js = ds.compare_numeric("x", profile, cur, test="jensenshannon")
    assert_allclose(js.statistic, jensenshannon(ref_counts / 5000, cur_counts / 4000), rtol=1e-12)
    psi = ds.compare_numeric("x", profile, cur, test="psi")
    assert_allclose(psi.statistic, ds.psi(ref_counts, cur_counts)[0], rtol=1e-12)


# ------------------------------------------------------------------------------------------ choice of test
def test_test_choice_by_kind_and_reference_size(tmp_path):
    rng = np.random.default_rng(4)
    small = {
        "num": rng.normal(size=800),
        "two": rng.choice(["a", "b"], 800),
        "three": rng.choice(list("abc"), 800),
    }
    big = {
        "num": rng.normal(size=3000),
        "two": rng.choice(["a", "b"], 3000),
        "three": rng.choice(list("abc"), 3000),
        "flag": rng.integers(0, 2, 3000),
    }
    current = {k: v[:600] for k, v in big.items()}
    for reference, expected in (
        (small, {"num": "ks", "two": "z", "three": "chisquare"}),
        (
            big,
            {"num": "wasserstein", "two": "jensenshannon", "three": "jensenshannon", "flag": "jensenshannon"},
        ),
    ):
        ref, cur = tables(tmp_path, reference, {k: current[k] for k in reference})
        result = drift.run({"reference": ref, "current": cur}, ctx(tmp_path))
        columns = by_column(result)
        assert {k: columns[k]["test"] for k in expected} == expected
        for name, column in columns.items():
            assert column["threshold"] == ds.DEFAULT_THRESHOLDS[column["test"]]
            check = next(c for c in result.checks if c.name == f"column:{name}")
            assert ds.TEST_TITLES[column["test"]] in check.threshold  # the report names test and threshold
    assert columns["flag"]["kind"] == "categorical"  # numbers with two values are categories
    table = result.evidence["tables"]["Drift per column"]
    assert "| num | numeric | wasserstein (approx.) |" in table  # 3000 distinct values: quantile summary


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
        "per_column": {"a": {"test": "psi", "threshold": 0.25}},
        "tests": {"categorical": "chisquare"},
        "thresholds": {"chisquare": 0.01},
    }
    columns = by_column(drift.run(section, ctx(tmp_path)))
    assert (columns["a"]["test"], columns["a"]["threshold"]) == ("psi", 0.25)
    assert (columns["b"]["test"], columns["b"]["threshold"]) == ("chisquare", 0.01)
    bad = drift.run({**section, "per_column": {"a": {"test": "chisquare"}}}, ctx(tmp_path))
    assert by_column(bad)["a"]["status"] == "invalid_test"
    assert next(c for c in bad.checks if c.name == "column:a").status is Status.ERROR


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
    tests = ["ks", "wasserstein", "psi", "jensenshannon"]
    for test in tests:
        section = {
            "reference": ref,
            "current": cur,
            "save_profile": "profile.json",
            "tests": {"numeric": test},
        }
        raw = drift.run(section, ctx(tmp_path))
        stored = drift.run(
            {"profile": "profile.json", "current": cur, "tests": {"numeric": test}}, ctx(tmp_path)
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
    assert "Jensen-Shannon" in " ".join(columns["constant_changed"]["notes"])
    assert "'zzz'" in columns["unseen"]["reason"] and "0.33% of current rows" in columns["unseen"]["reason"]
    assert "minimum 30" in columns["tiny"]["reason"]
    share = checks["dataset_drift"]
    assert share.details["judged"] == 6 and share.details["drifted"] == ["constant_changed", "all_nan_cur"]


def test_empty_bins_get_epsilon_in_psi_and_say_so():
    rng = np.random.default_rng(9)
    profile = ds.profile_numeric(rng.normal(size=5000))
    result = ds.compare_numeric("x", profile, rng.normal(5, 0.1, 3000), test="psi")  # all in the top bin
    assert result.drifted and "9 empty bins set to epsilon 0.0001" in result.notes
    js = ds.compare_numeric("x", profile, rng.normal(5, 0.1, 3000), test="jensenshannon")
    assert "9 empty bins contribute 0 (no epsilon needed)" in js.notes


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
    assert all(c["statistic"] < 0.05 for c in fresh.evidence["columns"])
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
        ["employment", "region", "sex", "age_band"], "jensenshannon"
    )
    # margins: every drifted column at least 1.4 times its threshold (0.1), every other one below half of it
    for name, column in columns.items():
        if name in drifted.evidence["drifted"]:
            assert column["statistic"] >= 1.4 * column["threshold"], (name, column["statistic"])
        else:
            assert column["statistic"] < 0.5 * column["threshold"], (name, column["statistic"])
    share_check = next(c for c in drifted.checks if c.name == "dataset_drift")
    assert share_check.status is Status.FAIL and share_check.value == pytest.approx(5 / 9)
