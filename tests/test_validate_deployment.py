"""`mlgate validate-deployment` against the real model service, started on 127.0.0.1 in subprocesses
(one healthy, and one per injected fault), plus the pure decision part on hand-made observations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gates.core.context import Bootstrap
from gates.core.errors import InputError
from gates.core.result import Status
from gates.deploy.validate import (
    BadOutcome,
    GoldenOutcome,
    Observation,
    Probe,
    bad_requests,
    compare,
    error_rate_interval,
    evaluate,
    load_golden,
)
from tests.ports import free_port

pytest.importorskip("fastapi")
ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "examples/service/golden.jsonl"
FAULTS = {
    "healthy": {},
    "shifted": {"FAULT_SCORE_SHIFT": "0.2"},
    "failing": {"FAULT_ERROR_RATE": "0.1"},
    "not_ready": {"FAULT_NOT_READY": "1"},
    "slow": {"FAULT_LATENCY_MS": "40"},
}


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """All services start at once (each takes a few seconds to import scikit-learn), and stop at the end."""
    logs = tmp_path_factory.mktemp("service-logs")
    running: dict[str, tuple[subprocess.Popen, str]] = {}
    try:

        def start(name: str) -> None:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("FAULT_")}
            env.pop("POD_IP", None)
            env.update(
                {
                    "BIND_ADDRESS": "127.0.0.1",
                    "PORT": str(port),
                    "MODEL_VERSION": f"test-{name}",
                    **FAULTS[name],
                }
            )
            log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - held by the child process
            proc = subprocess.Popen(
                [sys.executable, "-m", "examples.service"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            running[name] = (proc, f"http://127.0.0.1:{port}")

        for name in FAULTS:
            start(name)
        deadline = time.monotonic() + 120
        for name in FAULTS:
            probe = "/health" if name == "not_ready" else "/ready"  # ready: the model is loaded
            restarts = 0
            while True:
                proc, url = running[name]
                if (
                    proc.poll() is not None
                    and restarts < 3
                    and "address already in use" in (logs / f"{name}.log").read_text()
                ):
                    restarts += 1  # another process took the free port between probe and bind: pick another
                    start(name)
                    continue
                assert proc.poll() is None, (logs / f"{name}.log").read_text()
                try:
                    if requests.get(url + probe, timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, f"service {name} did not start"
                time.sleep(0.2)
        yield {name: url for name, (_, url) in running.items()}
    finally:
        for proc, _ in running.values():
            proc.terminate()
        for proc, _ in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_cli(cli, url: str, *args: str):
    result = cli(
        "validate-deployment",
        "--url",
        url,
        "--golden",
        GOLDEN,
        "--requests",
        "400",  # p99's two-sided 95% order-statistic interval needs 368 samples
        "--resamples",
        "200",
        *args,
    )
    report = json.loads((Path.cwd() / "mlgate-reports" / "mlgate.json").read_text())["gates"][0]
    assert report["gate"] == "validate_deployment"
    return result, {c["name"]: c for c in report["checks"]}, report


def test_healthy_service_passes_every_check_and_writes_every_format(cli, services, tmp_path):
    result, checks, report = run_cli(cli, services["healthy"], "--max-error-rate", "0.05")
    assert result.code == 0, result.stdout + result.stderr
    assert {name: c["status"] for name, c in checks.items()} == {
        "health": "pass",
        "ready": "pass",
        "golden": "pass",
        "error_rate": "pass",
        "p95": "pass",
        "p99": "pass",
        "bad_requests": "pass",
    }
    assert checks["golden"]["value"] == 24
    assert checks["error_rate"]["value"] == 0 and checks["error_rate"]["ci"][1] < 0.05
    assert checks["p95"]["ci"][0] <= checks["p95"]["value"] <= checks["p95"]["ci"][1]
    assert report["summary"]["requests"] == 400 and report["summary"]["golden-matched"] == "24/24"
    for name in ("junit.xml", "summary.md", "report.html", "audit.jsonl"):
        assert (tmp_path / "mlgate-reports" / name).is_file()
    audit = [json.loads(line) for line in (tmp_path / "mlgate-reports/audit.jsonl").read_text().splitlines()]
    assert audit[-1]["gate"] == "validate_deployment" and audit[-1]["status"] == "pass"
    assert str(GOLDEN) in audit[-1]["inputs"]
    assert "Golden predictions" in (tmp_path / "mlgate-reports/summary.md").read_text()


def test_shifted_scores_fail_the_golden_check(cli, services):
    result, checks, _ = run_cli(cli, services["shifted"])
    assert result.code == 1
    assert checks["golden"]["status"] == "fail"
    assert "score: expected" in checks["golden"]["why"]
    assert checks["error_rate"]["value"] == 0  # 0 of 200: warns at the default 1 % limit, never fails


def test_injected_errors_fail_the_error_rate_with_its_interval(cli, services):
    result, checks, _ = run_cli(cli, services["failing"], "--max-error-rate", "0.02")
    assert result.code == 1
    check = checks["error_rate"]
    assert check["status"] == "fail"
    # the 24 golden requests come first, so the burst sees the injected 10 % too, give or take one
    assert 0.08 <= check["value"] <= 0.12
    assert check["ci"][0] < check["value"] < check["ci"][1]
    assert check["details"]["answers"]["500"] == round(check["value"] * 400)


def test_a_service_that_never_gets_ready_fails_without_sending_predictions(cli, services):
    result, checks, _ = run_cli(cli, services["not_ready"], "--timeout", "2")
    assert result.code == 1
    assert checks["health"]["status"] == "pass" and checks["ready"]["status"] == "fail"
    assert "answered 503" in checks["ready"]["why"] and "FAULT_NOT_READY" in checks["ready"]["why"]
    assert checks["predictions"]["status"] == "error"


def test_added_latency_fails_a_tight_p95(cli, services):
    result, checks, _ = run_cli(cli, services["slow"], "--max-p95", "20", "--max-p99", "2000")
    assert result.code == 1
    assert checks["p95"]["status"] == "fail" and checks["p95"]["value"] >= 40
    assert checks["p99"]["status"] == "pass"


def test_nothing_listening_is_a_failed_health_check(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        result, checks, _ = run_cli(cli, f"http://127.0.0.1:{port}", "--timeout", "1")
    assert result.code == 1
    assert checks["health"]["status"] == "fail" and "connection refused" in checks["health"]["why"]


def test_policy_section_and_flag_errors(cli, tmp_path, services):
    policy = tmp_path / "gates.yml"
    policy.write_text(
        f"version: 1\nvalidate_deployment:\n  url: {services['healthy']}\n  golden: {GOLDEN}\n"
        "  requests: 50\n  max_p99_ms: 5000\n  bootstrap: {resamples: 100}\n"
    )
    result = cli("--policy", policy, "validate-deployment")
    assert result.code == 0, result.stdout
    assert "p99" in result.stdout and "warn" in result.stdout  # 50 requests are too few to trust a p99
    assert cli("validate-deployment").code == 2
    bad = cli("validate-deployment", "--url", "ftp://x")
    assert bad.code == 2 and "url" in bad.stderr


# --- the pure part ----------------------------------------------------------------------------------------------


def observation(**changes) -> Observation:
    base = {
        "url": "http://127.0.0.1:1",
        "health": Probe(200, 0.1),
        "ready": Probe(200, 0.1),
        "golden": [GoldenOutcome("a", 200)],
        "ok": [True] * 300,
        "latency_ms": [10.0 + i % 7 for i in range(300)],
        "statuses": {"200": 300},
        "planned": 300,
        "bad": [BadOutcome("not JSON", 400, "not valid JSON")],
    }
    base.update(changes)
    return Observation(**base)


BOOT = Bootstrap(confidence=0.95, resamples=200, seed=0)


def checks_of(obs: Observation, **section) -> dict:
    result = evaluate(obs, {"url": obs.url, **section}, BOOT, "point")
    return {c.name: c for c in result.checks}


def test_error_rate_interval_is_the_exact_binomial_interval():
    low, high = error_rate_interval(0, 500, 0.95)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 500), rel=1e-9)
    low, high = error_rate_interval(5, 100, 0.95)
    assert low == pytest.approx(0.01643, abs=1e-4) and high == pytest.approx(0.11283, abs=1e-4)


def test_too_few_requests_for_the_rate_limit_warn_and_time_budget_truncation_warns():
    checks = checks_of(observation(ok=[True] * 100, latency_ms=[5.0] * 100, planned=100))
    assert checks["error_rate"].status is Status.WARN  # 0 of 100 cannot show a rate below 1 %
    checks = checks_of(observation(planned=1000), max_error_rate=0.05)
    assert checks["error_rate"].status is Status.WARN and "within the time budget" in checks["error_rate"].why


def test_p99_from_few_samples_warns_and_bound_mode_fails_on_the_interval():
    checks = checks_of(observation(latency_ms=[10.0] * 50, ok=[True] * 50, planned=50), max_error_rate=0.5)
    assert checks["p99"].status is Status.WARN and "too few" in checks["p99"].why
    spread = [float(i) for i in range(300)]
    result = evaluate(observation(latency_ms=spread), {"url": "x", "max_p95_ms": 286}, BOOT, "bound")
    p95 = next(c for c in result.checks if c.name == "p95")
    assert p95.value <= 286 < p95.ci[1] and p95.status is Status.FAIL


def test_bad_requests_answered_with_200_or_500_fail():
    checks = checks_of(
        observation(bad=[BadOutcome("empty object", 200, "ok"), BadOutcome("x", 422, "field")])
    )
    assert (
        checks["bad_requests"].status is Status.FAIL
        and "empty object: answered 200" in checks["bad_requests"].why
    )
    checks = checks_of(observation(bad=[BadOutcome("not JSON", 400, "")]))
    assert (
        checks["bad_requests"].status is Status.FAIL
        and "without an error message" in checks["bad_requests"].why
    )


def test_no_golden_file_is_a_warning_not_a_pass():
    assert checks_of(observation(golden=None))["golden"].status is Status.WARN


def test_compare_and_the_bad_requests_derived_from_an_input():
    assert (
        compare({"score": 0.5, "prediction": 1}, {"score": 0.50005, "prediction": 1}, {"score": 1e-4}) == []
    )
    assert compare({"score": 0.5}, {"score": 0.6}, {}) == ["score: expected 0.5 ± 1e-06, got 0.6"]
    assert compare({"label": "a"}, {}, {}) == ["label: missing from the answer"]
    cases = {name: (endpoint, body) for name, endpoint, body in bad_requests({"age": 30, "region": "n"}, 3)}
    assert json.loads(cases["missing field 'age'"][1]) == {"region": "n"}
    assert json.loads(cases["field 'age' as text"][1])["age"] == "not a number"
    assert cases["batch of 4 records (limit 3)"][0] == "batch"


def test_load_golden_errors_name_the_line(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"input": {}, "expected": {}}\n{"input": 3}\n')
    with pytest.raises(InputError, match="line 2: expected an object with 'input'"):
        load_golden(path)
    assert len(load_golden(GOLDEN)) == 24


def test_load_golden_line_with_a_too_long_integer_is_an_input_error(tmp_path):
    """json.loads raises a plain ValueError (no .msg) for an integer past Python's digit limit."""
    path = tmp_path / "g.jsonl"
    path.write_text('{"input": {}, "expected": {}}\n{"input": {"x": ' + "9" * 5000 + '}, "expected": {}}\n')
    with pytest.raises(InputError, match=r"line 2: not JSON \(Exceeds the limit"):
        load_golden(path)
    path.write_text('{"input": {}, "expected": {}}\n{"input": \n')
    with pytest.raises(InputError, match=r"line 2: not JSON \(Expecting value\)"):
        load_golden(path)
