"""`mlgate shadow analyse` on real parts: the example service tees to a candidate service (processes on
loopback), a real Prometheus scrapes the primary, bounded load; the shadow passes a candidate that is the same
model and stops one whose scores are shifted (FAULT_SCORE_SHIFT), each within a bounded time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.canary.test_shadow_tee import GOLDEN, Service
from tests.prom.harness import LoadGenerator, PrometheusServer, available

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.timeout(500),
    pytest.mark.skipif(not available(), reason="needs the prometheus binary (apt-get install prometheus)"),
]


def shadow_run(
    tmp_path, candidate_env: dict[str, str], duration: str = "90s", rate: int = 60
) -> tuple[int, dict, str]:
    candidate = Service(TRACK="canary", MODEL_VERSION="candidate", **candidate_env)
    primary = Service(SHADOW_URL=candidate.url, SHADOW_TIMEOUT_MS="2000")
    address = f"127.0.0.1:{primary.port}"
    prom = PrometheusServer([(address, {"namespace": "prod", "deployment": "model"})]).start()
    load = LoadGenerator(
        lambda: [address], body_fn=lambda i: GOLDEN[i % len(GOLDEN)]["input"], rate=rate, max_seconds=120
    )
    try:
        load.start()
        prom.wait_for('sum(model_shadow_requests_total{side="candidate"})', timeout=60)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        proc = subprocess.run(
            [
                sys.executable, "-m", "gates.cli", "--report-dir", str(tmp_path / "reports"),
                "shadow", "analyse", "--deployment", "model", "-n", "prod", "--prometheus-url", prom.url,
                "--duration", duration, "--interval", "5s",
            ],
            check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=200,
        )  # fmt: skip
        reports = list((tmp_path / "reports").glob("*.json"))
        report = json.loads(reports[0].read_text()) if reports else {}
        return proc.returncode, report, proc.stdout + proc.stderr
    finally:
        load.stop()
        prom.close()
        primary.close()
        candidate.close()


def test_the_same_model_passes_its_shadow(tmp_path):
    # a pass is decided at the end (once no error is certainly above min_effect): more requests, less time
    code, report, out = shadow_run(tmp_path, {}, duration="45s", rate=150)
    assert code == 0, out
    assert '"verdict": "pass"' in json.dumps(report) or "pass" in out


def test_shifted_scores_stop_the_candidate(tmp_path):
    code, _, out = shadow_run(tmp_path, {"FAULT_SCORE_SHIFT": "0.4"})
    assert code == 1, out
    assert "shadow_disagreement" in out or "shadow_score_shift" in out, out
