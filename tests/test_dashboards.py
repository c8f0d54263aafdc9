"""The Grafana dashboard and the Prometheus alerting rules in dashboards/: promtool checks and unit-tests the
rules, every dashboard query is valid PromQL (promtool parses it as a recording rule), and every metric either
file names is one the example service exports (examples/service/metrics.py's table, checked against its
prometheus-client registry)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "dashboards" / "grafana" / "mlgate.json"
RULES = REPO / "dashboards" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "dashboards" / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (apt-get install prometheus)")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}
LABELS = {"model_version"}  # a label of every series, not a metric


def exported() -> set[str]:
    """Series names the service exports: its documented table, each name with its type's suffixes."""
    from examples.service import metrics

    names: set[str] = set()
    for name, kind in re.findall(
        r"^(model_\w+)\s+(counter|gauge|histogram)\s", metrics.__doc__ or "", re.MULTILINE
    ):
        base = name.removesuffix("_total") if kind == "counter" else name
        names |= {base + suffix for suffix in SUFFIXES[kind]}
    return names


def metric_names(expr: str) -> set[str]:
    return {n for n in re.findall(r"\b(model_[a-z_]+)\b", expr) if n not in LABELS}


def dashboard_targets() -> list[tuple[str, str]]:
    data = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in data["panels"] if p["type"] != "row" for t in p["targets"]]


def test_the_documented_table_matches_the_registry():
    """The registry-level metrics (no scrape-time window needed) are exactly the table's counters, histograms
    and the gauges they declare, so the table is a faithful list of what the service exports."""
    from prometheus_client import generate_latest

    from examples.service.metrics import ServiceMetrics, Windows

    service = ServiceMetrics("1", "stable", None, Windows())
    service.observe_request("/predict", 200, 0.01, None)
    service.observe_request("/predict", 400, 0.01, "validation")
    service.observe_scores([0.2, 0.7], [0, 1])
    text = generate_latest(service.registry).decode()
    scraped = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    assert scraped, text
    assert scraped <= exported(), scraped - exported()


def test_dashboard_structure():
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data["schemaVersion"], int) and data["schemaVersion"] >= 36
    assert data["uid"] and data["title"]
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    kinds = {p["type"] for p in data["panels"]}
    assert {"row", "timeseries", "heatmap", "gauge", "stat", "table"} <= kinds
    for panel in data["panels"]:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"} and 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
    # what the issue asks the dashboard to show
    titles = " ".join(p["title"].lower() for p in data["panels"])
    for topic in ("requests", "error", "latency", "score", "drift", "gap", "canary"):
        assert topic in titles, topic


def test_every_dashboard_and_alert_metric_is_exported():
    known = exported()
    used = {name for _, expr in dashboard_targets() for name in metric_names(expr)}
    rules = yaml.safe_load(RULES.read_text())
    used_by_rules = {n for g in rules["groups"] for r in g["rules"] for n in metric_names(r["expr"])}
    assert used and used <= known, used - known
    assert used_by_rules <= known, used_by_rules - known
    # every family of the service shows somewhere on the dashboard
    families = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in used}
    for family in (
        "model_requests",
        "model_request_latency_seconds",
        "model_prediction_score",
        "model_feature_drift_psi",
    ):
        assert family in families


@needs_promtool
@pytest.mark.prometheus
def test_promtool_checks_and_unit_tests_the_rules():
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], check=False, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
@pytest.mark.prometheus
def test_every_dashboard_query_is_valid_promql(tmp_path):
    """promtool parses each query as a recording rule's expression (Grafana macros would not parse: none used)."""
    targets = dashboard_targets()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(targets)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(targets)} rules found" in checked.stdout
