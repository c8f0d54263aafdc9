"""`mlgate monitor` on a real Prometheus (Debian's binary on 127.0.0.1) scraping a prometheus-client exporter that
exports the example service's metric names: one block per run from the score histogram's increase, the drift
gauges and the rolling accuracy; Prometheus down is exit 3."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

from tests.ports import free_port
from tests.prom.harness import PrometheusServer, available

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(not available(), reason="needs the prometheus binary (apt-get install prometheus)"),
]
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # as examples/service/metrics.py


def scores(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return 1 / (1 + np.exp(-np.random.default_rng(seed).normal(-0.5 + shift, 1.0, n)))


def test_monitor_reads_prometheus_and_alarms_on_a_shift(cli, tmp_path):
    registry = CollectorRegistry()
    labels = {"model_version": "1", "track": "stable"}
    histogram = Histogram(
        "model_prediction_score", "score", list(labels), buckets=SCORE_BUCKETS, registry=registry
    )
    psi = Gauge("model_feature_drift_psi", "psi", ["feature", *labels], registry=registry)
    accuracy = Gauge("model_rolling_accuracy", "acc", list(labels), registry=registry)
    labelled = Gauge("model_rolling_labels", "labels", list(labels), registry=registry)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    psi.labels(feature="age", **labels).set(0.03)
    psi.labels(feature="income", **labels).set(0.05)
    accuracy.labels(**labels).set(0.9)
    labelled.labels(**labels).set(500)
    histogram.labels(**labels)  # the series exists (at 0) from the first scrape on
    pd.DataFrame({"score": scores(20_000, 1)}).to_parquet(tmp_path / "reference.parquet")
    try:
        with PrometheusServer(targets=[(f"127.0.0.1:{port}", {})]) as prom:
            policy = tmp_path / "gates.yml"
            policy.write_text(
                textwrap.dedent(f"""\
                version: 1
                monitor:
                  reference: reference.parquet
                  source:
                    kind: prometheus
                    url: {prom.url}
                    selector: '{{track="stable"}}'
                    lookback_seconds: 120
                  detection: {{arl0: 500, shift: 0.1, block_rows: 500, min_block_rows: 100}}
                  drift: {{psi_max: 0.2}}
                  labelled: {{min_accuracy: 0.8, min_labels: 100}}
                """)
            )
            prom.wait_for('model_prediction_score_count{track="stable"}')
            for value in scores(2000, 2):
                histogram.labels(**labels).observe(value)
            prom.wait_for('model_prediction_score_count{track="stable"} >= 2000')
            first = cli("--policy", policy, "monitor")
            report = json.loads((tmp_path / "mlgate-reports" / "monitor.json").read_text())["gates"][0]
            found = {c["name"]: c for c in report["checks"]}
            assert first.code == 0, first.stdout
            assert (
                found["change score"]["status"] == "pass" and 1500 <= found["traffic"]["value"] <= 4000
            )  # first run: increase() extrapolates
            assert found["drift window"]["value"] == 0.05 and found["accuracy"]["status"] == "pass"
            assert any(
                "increase(model_prediction_score_count" in q["query"] for q in report["evidence"]["queries"]
            )

            for value in scores(2000, 3, shift=0.5):
                histogram.labels(**labels).observe(value)
            psi.labels(feature="income", **labels).set(0.4)
            prom.wait_for('model_prediction_score_count{track="stable"} >= 4000')
            prom.wait_for("max(model_feature_drift_psi) >= 0.4")
            second = cli("--policy", policy, "monitor")
            report = json.loads((tmp_path / "mlgate-reports" / "monitor.json").read_text())["gates"][0]
            found = {c["name"]: c for c in report["checks"]}
            assert second.code == 1
            assert found["change score"]["status"] == "fail" and "(up)" in found["change score"]["why"]
            assert found["drift window"]["status"] == "fail" and "income" in found["drift window"]["why"]

            prom.stop()
            down = cli("--policy", policy, "monitor")
            assert down.code == 3 and len(down.stderr_lines) == 1
    finally:
        server.shutdown()
