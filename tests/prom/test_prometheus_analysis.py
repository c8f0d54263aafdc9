"""Canary analysis against a real Prometheus scraping real model-service processes under bounded load."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gates.core.errors import InfraError
from gates.deploy.canary import CanaryConfig, Run
from gates.deploy.prometheus import NoData, PrometheusClient
from tests.ports import free_port
from tests.prom.harness import LoadGenerator, PrometheusServer, wait_ready

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]
GOLDEN = [
    json.loads(line)["input"]
    for line in (ROOT / "examples/service/golden.jsonl").read_text().splitlines()
    if line.strip()
]


def start_service(track, env=None):
    port = free_port()
    full = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TRACK": track,
        "MODEL_VERSION": track,
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.service"],
        cwd=ROOT,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def world():
    groups = {
        "errs": {"FAULT_ERROR_RATE": "0.3"},
        "slow": {"FAULT_LATENCY_MS": "120"},
        "shift": {"FAULT_SCORE_SHIFT": "0.4"},
        "same": {},
    }
    procs, targets = [], []
    stable, stable_address = start_service("stable")  # one stable process, listed under every group
    procs.append(stable)
    for name, fault in groups.items():
        proc, address = start_service("canary", fault)
        procs.append(proc)
        targets += [
            (address, {"namespace": "t", "deployment": name}),
            (stable_address, {"namespace": "t", "deployment": name}),
        ]
    addresses = sorted({a for a, _ in targets})
    prom = load = None
    try:
        for address in addresses:
            wait_ready(address, 90)
        prom = PrometheusServer(targets).start()
        load = LoadGenerator(
            lambda: addresses, body_fn=lambda i: GOLDEN[i % len(GOLDEN)], rate=150, max_seconds=150, workers=6
        ).start()
        prom.wait_for('sum(rate(model_requests_total{deployment="same",track="canary"}[10s]))', timeout=60)
        time.sleep(6)  # let the 10 s windows fill
        yield prom
    finally:
        if load:
            load.stop()
        if prom:
            prom.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def analyse(prom, deployment):
    cfg = CanaryConfig.from_section(
        {
            "namespace": "t",
            "deployment": deployment,
            "image": "x",
            "steps": [50, 100],
            "analysis": {
                "window": "10s",
                "min_requests": 10,
                "compare": {"min_points": 5},
                "metrics": [
                    {"name": "error_rate", "max": 0.1, "critical": True},
                    {"name": "latency_p95", "max": 0.1},
                    {"name": "score_shift", "max": 0.2},
                ],
            },
        }
    )
    run = Run(cfg, kube=None, prom=PrometheusClient(prom.url, retries=1), log=lambda s: None)
    entry = run.analyse(0, {"weight": 50, "effective_weight": 50})
    failing = {m["metric"] for j in entry["judges"] for m in j["metrics"] if m["passed"] is False}
    return entry, failing


def test_healthy_pair_passes(world):
    entry, failing = analyse(world, "same")
    assert entry["outcome"] in ("pass", "marginal"), entry["why"]
    assert not failing & {"error_rate", "latency_p95", "score_shift"}, entry["why"]
    queries = [m["query"] for m in entry["measurements"]]
    assert any("model_request_errors_total" in q for q in queries)


def test_injected_errors_detected(world):
    entry, failing = analyse(world, "errs")
    assert entry["outcome"] == "fail" and "error_rate" in failing, entry["why"]


def test_injected_latency_detected(world):
    entry, failing = analyse(world, "slow")
    assert entry["outcome"] == "fail" and "latency_p95" in failing, entry["why"]


def test_score_shift_detected(world):
    entry, failing = analyse(world, "shift")
    assert entry["outcome"] == "fail" and "score_shift" in failing, entry["why"]


def test_no_traffic_is_not_a_pass(world):
    entry, _ = analyse(world, "nobody")
    assert entry["outcome"] == "fail" and "no requests counted on canary" in entry["why"]  # no data: fail


def test_real_prometheus_value_and_nodata(world):
    client = PrometheusClient(world.url)
    assert client.value("vector(1)") == 1.0
    with pytest.raises(NoData):
        client.value('model_requests_total{deployment="nobody"}')
    # the healthy services never counted an error, so their counter has no series, but Prometheus knows the name
    assert not client.query('model_request_errors_total{deployment="same"}')
    assert client.known_metric("model_request_errors_total") and not client.known_metric("model_typo_total")


def test_stopped_prometheus_is_infra_error():
    with PrometheusServer([]) as prom:
        url = prom.url
    client = PrometheusClient(url, retries=1, backoff=0.01, timeout=1)
    with pytest.raises(InfraError, match="unreachable"):
        client.value("vector(1)")
