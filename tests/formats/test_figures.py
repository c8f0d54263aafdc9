"""Charts from real gate runs: the gates return data (evidence), gates.formats.figures shapes it, and the SVG and
Mermaid renderers draw it. No gate module imports gates.formats."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates import bias, drift
from gates import metrics as metrics_gate
from gates.core.context import GateContext
from gates.formats import figures, mermaid, svg
from gates.readers.predictions import Predictions

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"


def ctx(tmp_path: Path) -> GateContext:
    return GateContext(base_dir=tmp_path, report_dir=tmp_path / "reports")


def as_report(result) -> dict:
    """The gate as the JSON report holds it (what the formats draw from), through a JSON round trip."""
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


def drawn(chart: figures.Chart) -> ET.Element:
    """The chart's SVG, parsed as XML (well-formed, with its title)."""
    root = ET.fromstring(svg.render(chart, "t"))
    assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}title").text == chart.title
    return root


def test_bias_bars_have_every_group_its_interval_and_the_threshold(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    sex = rng.choice(["female", "male", "other"], n, p=[0.49, 0.5, 0.01])
    y = rng.integers(0, 2, n)
    pred = (rng.random(n) < np.where(sex == "female", 0.3, 0.2)).astype(int)
    p = Predictions(Path("p.csv"), "binary", y, pred, None, [0, 1])
    section = {
        "sensitive": ["sex"],
        "four_fifths": True,
        "min_group_size": 100,
        "bootstrap": {"resamples": 200},
    }
    result = bias.evaluate(p, {"sex": sex}, section, ctx(tmp_path))
    assert not result.artifacts  # no pictures drawn by the gate
    (chart,) = figures.charts(as_report(result))
    assert chart.categories == ["female", "male", "other"]
    (bars,) = chart.series
    groups = result.evidence["groups"]["sex"]
    for label, value, low, high in zip(chart.categories, bars.ys, bars.low, bars.high):
        assert value == pytest.approx(groups[label]["selection_rate"]["value"])
        assert low <= value <= high
    assert chart.muted == [False, False, True]  # "other" has fewer than 100 rows: shown, not judged
    highest = max(bars.ys[:2])
    assert any(r.kind == "limit" and r.value == pytest.approx(0.8 * highest) for r in chart.rules)
    root = drawn(chart)
    assert len(root.findall(".//{http://www.w3.org/2000/svg}rect[@class='bar c0 muted']")) == 1
    block = "\n".join(mermaid.render(chart))
    assert 'x-axis ["female", "male", "other"]' in block and "    bar [" in block
    assert "plotColorPalette" in block and "(red)" in block  # the threshold line, named in the key


def test_drift_histograms_of_drifted_columns_and_distances_of_all(tmp_path):
    result = drift.run(
        {
            "reference": str(EXAMPLES / "reference.parquet"),
            "current": str(EXAMPLES / "current_drifted.parquet"),
        },
        ctx(tmp_path),
    )
    drifted = result.evidence["drifted"]
    assert drifted and not result.artifacts
    charts = figures.charts(as_report(result))
    histograms = [c for c in charts if c.title.endswith("reference vs current")]
    assert [c.title.split(":")[0] for c in histograms] == [h["column"] for h in result.evidence["histograms"]]
    assert {c.title.split(":")[0] for c in histograms} <= set(drifted)
    for chart in histograms:
        reference, current = chart.series
        if chart.categorical:  # shares of each category
            assert sum(reference.ys) == pytest.approx(1) and sum(current.ys) == pytest.approx(1)
        else:  # densities over shared bin edges
            width = reference.xs[1] - reference.xs[0]
            assert len(reference.xs) == len(reference.ys) + 1
            assert sum(reference.ys) * width == pytest.approx(1, abs=0.05)
        drawn(chart)
    (distances,) = [c for c in charts if c.title.startswith("Distance per column")]
    assert len(distances.categories) == len(result.evidence["columns"])
    assert distances.series[0].ys == sorted(distances.series[0].ys, reverse=True)
    assert distances.rules[0].value == 1.0
    assert f"({len(drifted)} drifted)" in distances.note


def test_drift_without_plots_records_no_histograms(tmp_path):
    section = {
        "reference": str(EXAMPLES / "reference.parquet"),
        "current": str(EXAMPLES / "current_drifted.parquet"),
        "plots": False,
    }
    assert "histograms" not in drift.run(section, ctx(tmp_path)).evidence


def test_metrics_roc_and_calibration_against_the_baseline(tmp_path):
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 2, n)
    for name, noise in (("cand.csv", 0.25), ("base.csv", 0.45)):
        score = np.clip(0.5 * y + rng.normal(0.25, noise, n), 0, 1)
        pd.DataFrame({"id": np.arange(n), "label": y, "score": score}).to_csv(tmp_path / name, index=False)
    section = {
        "predictions": "cand.csv",
        "columns": {"id": "id"},
        "thresholds": {"roc_auc": {"min": 0.5}},
        "baseline": {"predictions": "base.csv", "margins": {"roc_auc": {"absolute": 0.05}}},
        "bootstrap": {"resamples": 50},
    }
    result = metrics_gate.run(section, ctx(tmp_path))
    assert set(result.evidence["curves"]) == {"candidate", "baseline"} and not result.artifacts
    auc = result.checks[0].value
    charts = {c.title: c for c in figures.charts(as_report(result))}
    roc = charts["ROC curve"]
    assert [s.name for s in roc.series] == [
        f"candidate (AUC {auc:.3f})",
        f"baseline (AUC {result.evidence['curves']['baseline']['roc']['auc']:.3f})",
    ]
    calibration = charts["Calibration (reliability)"]
    assert all(lo <= v <= hi for s in calibration.series for v, lo, hi in zip(s.ys, s.low, s.high))
    for chart in charts.values():
        drawn(chart)
        assert mermaid.render(chart) is None  # numeric x axes are not drawn as xychart categories


def test_canary_timeline_with_sequential_bounds():
    canary_runs = pytest.importorskip("tests.formats.canary_runs")
    result = canary_runs.canary_result(regressed=True)
    assert result.evidence["verdict"] == "rolled_back"
    charts = {c.title: c for c in figures.charts(as_report(result))}
    values = charts["error_rate: canary and stable per analysis"]
    assert [s.name for s in values.series] == ["canary", "stable"]
    assert values.rules[0].label == "max 0.05"
    canary, stable = values.series
    assert canary.ys[-1] > stable.ys[-1]  # the regression is visible in the values
    ratio = charts["error_rate: canary/stable ratio, anytime-valid bounds"]
    (band,) = ratio.series
    analyses = result.evidence["analyses"]
    assert len(band.low) == len(analyses) == len(ratio.categories)
    assert band.low[-1] == max(band.low)
    if analyses[-1].get("terminal"):  # or at the terminal look, on its fixed-horizon test
        assert "the last look's fixed-horizon test: p" in analyses[-1]["why"]
    else:
        assert band.low[-1] > 1  # it rolled back once the band cleared 1
    drawn(ratio)
    block = "\n".join(mermaid.render(ratio))
    assert "lower bound (blue); upper bound (orange)" in block
    assert "canary rate, anytime-valid bounds" in " ".join(charts)


def test_the_bounds_narrow_as_a_healthy_canary_collects_traffic():
    canary_runs = pytest.importorskip("tests.formats.canary_runs")
    result = canary_runs.canary_result(regressed=False)
    ratio = next(
        c for c in figures.charts(as_report(result)) if c.title.startswith("error_rate: canary/stable")
    )
    (band,) = ratio.series
    raw = [
        a["judges"][0]["metrics"][0]["details"]["look"]["ratio_upper"] for a in result.evidence["analyses"]
    ]
    assert raw == sorted(raw, reverse=True) and raw[-1] < raw[0]  # more traffic, narrower bounds
    assert all(lo <= 1 <= hi for lo, hi in zip(band.low, band.high))  # no difference: 1 stays inside


evidence_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
evidence_keys = st.sampled_from(
    ["group_charts", "curves", "histograms", "columns", "analyses", "canary", "tables", "x"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(evidence_keys, evidence_values, max_size=5))
def test_malformed_evidence_draws_nothing_or_something_never_fails(evidence):
    for chart in figures.charts({"gate": "g", "evidence": evidence}):
        ET.fromstring(svg.render(chart, "h"))
        mermaid.render(chart)


# Presentation lives in gates/formats only. The commands (and the CLI) write the formats; gates/notify sends the
# JSON report document to webhooks, so it may build that document. Every other module decides or computes.
PRESENTERS = ("formats", "commands", "notify", "cli.py")
DECIDING_MODULES = sorted(
    p for p in (REPO / "gates").rglob("*.py") if p.relative_to(REPO / "gates").parts[0] not in PRESENTERS
)


@pytest.mark.parametrize("path", DECIDING_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_gates_return_data_and_import_no_format(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {m for m in imported if m == "gates.formats" or m.startswith("gates.formats.")}
    assert "matplotlib" not in {m.split(".")[0] for m in imported}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
        min_size=1,
        max_size=5,
    )
)
def test_mermaid_numbers_are_positional_decimals(values):
    """xychart's grammar takes plain decimals only: an exponent (1e-05) fails to parse on GitHub."""
    chart = figures.Chart(
        "t", "x", "y", [figures.Series("s", values, style="bars")], categories=list("abcde")[: len(values)]
    )
    block = mermaid.render(chart)
    (bars,) = [line for line in block if line.strip().startswith("bar [")]
    (axis,) = [re.fullmatch(r'    y-axis "y" (\S+) --> (\S+)', line) for line in block if "y-axis" in line]
    numbers = bars.strip()[5:-1].split(", ") + list(axis.groups())
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d+)?", n) for n in numbers), numbers
