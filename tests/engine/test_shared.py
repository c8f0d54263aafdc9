"""One table of cells for metrics and bias in one `mlgate run` (gates.engine.shared): the same cells, hence the
same numbers, as each gate computing its own; one scan instead of two; and errors word for word those of
separate runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gates.core.errors import InputError
from gates.engine import cells as cell_sql
from gates.engine import duckdb as engine
from gates.stats.bootstrap import binary_cells
from tests.engine.data import SECTION, write

FEATURES = ["sex", "band"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("shared"))


def joint(text: str, section: dict, max_cells: int, bias_scores: bool = True) -> dict:
    source = engine.source_of(text)
    con, columns = engine.connect(source, {})
    try:
        return cell_sql.compute_joint(
            engine._runner(con, source),
            engine.quote,
            columns,
            section,
            section,
            FEATURES,
            max_cells,
            source.pattern,
            {"engine": "duckdb", "source": source.pattern},
            bias_scores,
        )
    finally:
        con.close()


def assert_same(a, b) -> None:
    assert a.levels == b.levels and a.classes == b.classes and a.streaming == b.streaming
    assert a.cells.columns.keys() == b.cells.columns.keys()
    for name, values in a.cells.columns.items():
        np.testing.assert_allclose(b.cells.columns[name], values, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(a.cells.counts, b.cells.counts)
    np.testing.assert_array_equal(a.cells.strata, b.cells.strata)


@pytest.mark.parametrize("max_cells", [cell_sql.MAX_CELLS, 4096, 1024])  # exact scores, and two grids
@pytest.mark.parametrize("decision", ["column", "threshold"])
def test_joint_cells_equal_separate(files, max_cells, decision):
    section = {**SECTION, "task": "binary"}
    if decision == "threshold":  # no prediction column: the decision from the score
        section["columns"] = {"label": "label", "score": "score"}
        section["decision_threshold"] = 0.4
    text = str(files["parts"])
    both = joint(text, section, max_cells)
    assert_same(engine.tabulate(text, section, {}, [], max_cells), both["metrics"])
    assert_same(engine.tabulate(text, section, {}, FEATURES, max_cells), both["bias"])
    if max_cells < 30_000:  # the two gates' grids differ: each gets its own
        assert both["metrics"].streaming["score_grid"] != both["bias"].streaming["score_grid"]
    # a bias gate that reads no scores: its cells are the counts it would keep of the scored ones
    counts = joint(text, section, max_cells, bias_scores=False)
    assert_same(both["metrics"], counts["metrics"])
    alone, got = engine.tabulate(text, section, {}, FEATURES, max_cells), counts["bias"]
    want = binary_cells(
        alone.cells.columns["y"],
        alone.cells.columns["pred"],
        None,
        group=alone.cells.columns["g"],
        strata=True,
        weights=alone.cells.counts,
    )
    assert not got.has_score and got.cells.size == want.size <= 4 * 12
    for name, values in want.columns.items():
        np.testing.assert_array_equal(got.cells.columns[name], values, err_msg=name)
    np.testing.assert_array_equal(got.cells.counts, want.counts)
    np.testing.assert_array_equal(got.cells.strata, want.strata)


def policy(
    folder: Path, predictions: Path, engine_name: str, missing_group: bool = True, scores: bool = True
) -> Path:
    common = {"predictions": str(predictions), "positive_label": "fraud", "engine": engine_name}
    document = {
        "version": 1,
        "defaults": {"bootstrap": {"resamples": 300, "seed": 4}},
        "engine": {"max_cells": 4096},  # a grid, so the gates' grids differ
        "metrics": {**common, "thresholds": {"accuracy": {"min": 0.5}, "roc_auc": {"min": 0.5}}},
        "bias": {
            **common,
            "sensitive": FEATURES,
            "plots": False,
            "metrics": ["accuracy", "selection_rate", "true_positive_rate"] + (["roc_auc"] if scores else []),
            "rules": [{"metric": "demographic_parity", "disparity": "difference", "max": 0.5}],
            **({"missing_group": "missing"} if missing_group else {}),
        },
    }
    path = folder / f"{engine_name}-{missing_group}-{scores}.yml"
    path.write_text(json.dumps(document))
    return path


def gates_of(folder: Path, name: str) -> dict[str, dict]:
    report = json.loads((folder / f"{name}.json").read_text())
    return {g["gate"]: g for g in report["gates"]}


@pytest.mark.parametrize(("engine_name", "scores"), [("duckdb", True), ("duckdb", False), ("local", True)])
def test_run_equals_separate_commands(files, cli, tmp_path, monkeypatch, engine_name, scores):
    """`mlgate run` (shared cells) against `mlgate metrics` and `mlgate bias` (each its own): every check's
    value and interval, and every metric, to 1e-12; DuckDB scans the table twice instead of four times."""
    predictions = files["parts"] if engine_name == "duckdb" else files["single"]
    path = policy(tmp_path, predictions, engine_name, scores=scores)
    queries = []
    original = engine._runner

    def counting(con, source):
        run = original(con, source)
        return lambda sql: (queries.append(sql), run(sql))[1]

    monkeypatch.setattr(engine, "_runner", counting)
    connections = []
    connect = engine.connect
    monkeypatch.setattr(engine, "connect", lambda *a: (connections.append(a), connect(*a))[1])
    import gates.bias

    reads = []
    load = gates.bias.load_predictions
    monkeypatch.setattr(gates.bias, "load_predictions", lambda *a, **k: (reads.append(a), load(*a, **k))[1])
    shared = cli("--policy", path, "--no-audit", "--report-dir", tmp_path / "run", "run")
    assert shared.code in (0, 1), shared.stderr
    if engine_name == "duckdb":
        assert len(queries) == 2 and "GROUPING SETS" in queries[1]
        assert ("AS sb" in queries[1]) == scores  # per-group score cells only when a bias metric reads them
        assert len(connections) == 1  # the bias gate takes its cells without opening one
    assert reads == []  # the bias gate read nothing itself: DuckDB's joint cells, or the metrics gate's read
    got = gates_of(tmp_path / "run", "mlgate")
    for gate in ("metrics", "bias"):
        alone = cli("--policy", path, "--no-audit", "--report-dir", tmp_path / gate, gate)
        assert alone.code in (0, 1), alone.stderr
        want = gates_of(tmp_path / gate, gate)[gate]
        assert [c["name"] for c in got[gate]["checks"]] == [c["name"] for c in want["checks"]]
        for a, b in zip(got[gate]["checks"], want["checks"]):
            assert a["status"] == b["status"], a["name"]
            if isinstance(b["value"], float):
                assert a["value"] == pytest.approx(b["value"], rel=1e-12, abs=1e-12), a["name"]
            if b.get("ci"):
                np.testing.assert_allclose(a["ci"], b["ci"], rtol=1e-12, atol=1e-12, err_msg=a["name"])
    points = got["metrics"]["evidence"]["metrics"]
    alone_points = gates_of(tmp_path / "metrics", "metrics")["metrics"]["evidence"]["metrics"]
    assert points.keys() == alone_points.keys()
    for key, value in alone_points.items():
        assert points[key] == pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True), key
    if engine_name == "duckdb":
        assert len(queries) == 2 + 4  # the separate commands: shape and cells each


def test_errors_are_those_of_separate_runs(files, cli, tmp_path):
    """A bias section without missing_group on a column with missing values: in `mlgate run` the bias gate
    says exactly what `mlgate bias` says, and the metrics gate is not disturbed."""
    path = policy(tmp_path, files["parts"], "duckdb", missing_group=False)
    shared = cli("--policy", path, "--no-audit", "--report-dir", tmp_path / "run", "run")
    got = gates_of(tmp_path / "run", "mlgate")
    alone = cli("--policy", path, "--no-audit", "--report-dir", tmp_path / "bias", "bias")
    want = gates_of(tmp_path / "bias", "bias")["bias"]
    assert shared.code == alone.code == 2
    assert got["bias"]["checks"][0]["why"] == want["checks"][0]["why"]
    assert "missing_group" in want["checks"][0]["why"]
    assert got["metrics"]["status"] in ("pass", "fail")


def test_no_sharing_between_different_readings(files):
    """Sections that read the rows differently (another positive label, another file) share nothing."""
    from gates.engine import shared

    class Settings:
        def __init__(self, spec):
            self.spec = spec

        def reader_spec(self, **changes):
            return {**self.spec, **changes}

        def features(self):
            return tuple(FEATURES)

    base = {"predictions": "p.parquet", "positive_label": "fraud"}
    both = {"metrics": Settings(base), "bias": Settings(base)}
    pair = shared.plan(both.__getitem__, ["metrics", "bias"], lambda _: True)
    assert pair is not None and pair.role({**base, "task": "binary"}, []) == "metrics"
    assert pair.role({**base, "task": "binary"}, FEATURES) == "bias"
    assert pair.role({**base, "positive_label": "ok"}, []) is None
    other = {"metrics": Settings(base), "bias": Settings({**base, "predictions": "q.parquet"})}
    assert shared.plan(other.__getitem__, ["metrics", "bias"], lambda _: True) is None
    assert shared.plan(both.__getitem__, ["metrics"], lambda _: True) is None

    def broken(name):
        raise InputError("bad section")

    assert shared.plan(broken, ["metrics", "bias"], lambda _: True) is None
