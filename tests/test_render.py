"""The built-in kustomize renderer, the example's manifests, and `mlgate deploy --print`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from gates.deploy.render import check_objects, image_override, render, split_image, strategic_merge
from gates.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays/staging", K8S / "overlays/production", K8S / "canary"]


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return directory


@pytest.fixture
def features_tree(tmp_path: Path) -> Path:
    """Every transformer of the supported subset, in one overlay over one base."""
    write(
        tmp_path / "base",
        {
            "kustomization.yaml": "resources: [objects.yaml]\n",
            "objects.yaml": """\
            apiVersion: v1
            kind: Namespace
            metadata: {name: inner}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, labels: {app: web}}
            spec:
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  serviceAccountName: sa
                  volumes: [{name: cfg, configMap: {name: settings}}]
                  containers:
                  - name: a
                    image: reg.io:5000/x/app:1.0
                    env: [{name: A, value: "1"}, {name: B, value: "2"}]
                    envFrom: [{secretRef: {name: creds}}]
                    ports: [{containerPort: 80, name: http}]
                  - name: b
                    image: busybox@sha256:abcdef
                  - name: c
                    image: keep/me:3
            ---
            apiVersion: autoscaling/v2
            kind: HorizontalPodAutoscaler
            metadata: {name: web}
            spec:
              scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
              minReplicas: 1
              maxReplicas: 2
            ---
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: sa}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings}
            data: {k: v}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: creds}
            stringData: {k: v}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec:
              selector: {app: web}
              ports: [{port: 80, targetPort: http}]
            ---
            apiVersion: policy/v1
            kind: PodDisruptionBudget
            metadata: {name: web}
            spec:
              maxUnavailable: 1
              selector: {matchLabels: {app: web}}
            ---
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: web}
            spec:
              podSelector: {matchLabels: {app: web}}
              ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
            """,
        },
    )
    write(
        tmp_path / "overlay",
        {
            "kustomization.yaml": """\
            namespace: outer
            namePrefix: p-
            nameSuffix: -s
            resources: [../base, extra.yaml]
            commonLabels: {team: t}
            labels:
            - pairs: {tier: api}
              includeTemplates: true
            commonAnnotations: {owner: me}
            images:
            - {name: reg.io:5000/x/app, newTag: "2.0"}
            - {name: busybox, newName: bb, newTag: "1.36"}
            patches:
            - path: patch.yaml
            - patch: |
                apiVersion: v1
                kind: Service
                metadata: {name: web}
                spec:
                  ports: [{port: 80, targetPort: 8080}, {port: 9090, name: metrics}]
            - target: {kind: Deployment, name: web}
              patch: |
                - op: replace
                  path: /spec/progressDeadlineSeconds
                  value: 15
                - op: add
                  path: /spec/template/spec/containers/0/args
                  value: ["--fast"]
                - op: remove
                  path: /spec/template/spec/volumes
            """,
            "patch.yaml": """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              template:
                metadata:
                  annotations: {scrape: "true"}
                spec:
                  containers:
                  - name: new
                    image: new:1
                  - name: a
                    env: [{name: C, value: "3"}, {name: A, value: "9"}]
                    ports: [{containerPort: 81}]
                  - name: c
                    $patch: delete
            """,
            "extra.yaml": """\
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: extra}
            data: {a: b}
            """,
        },
    )
    return tmp_path / "overlay"


def kubectl_kustomize(path: Path) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    return [d for d in yaml.safe_load_all(out.stdout) if d]


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_builtin_renderer_matches_kubectl_kustomize_on_the_example_manifests(path):
    assert json.dumps(render(path).objects, sort_keys=True) == json.dumps(
        kubectl_kustomize(path), sort_keys=True
    )


@needs_kubectl
def test_builtin_renderer_matches_kubectl_kustomize_on_every_supported_feature(features_tree):
    mine = render(features_tree).objects
    theirs = kubectl_kustomize(features_tree)
    assert [(o["kind"], o["metadata"]["name"]) for o in mine] == [
        (o["kind"], o["metadata"]["name"]) for o in theirs
    ]
    assert json.dumps(mine, sort_keys=True) == json.dumps(theirs, sort_keys=True)


def test_transformers_without_kubectl(features_tree):
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render(features_tree).objects}
    assert ("Namespace", "outer") in objects  # the namespace transformer renames Namespace objects
    deployment = objects[("Deployment", "p-web-s")]
    assert deployment["metadata"]["namespace"] == "outer"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "web", "team": "t"}
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "web", "team": "t", "tier": "api"}
    assert pod["metadata"]["annotations"] == {"owner": "me", "scrape": "true"}
    containers = pod["spec"]["containers"]
    assert [c["name"] for c in containers] == ["new", "a", "b"]  # patch order first, `c` deleted
    assert containers[1]["image"] == "reg.io:5000/x/app:2.0"
    assert containers[0]["args"] == ["--fast"]  # patches apply in order: index 0 is `new` by then
    assert [e["name"] for e in containers[1]["env"]] == ["C", "A", "B"] and containers[1]["env"][1][
        "value"
    ] == "9"
    assert [p["containerPort"] for p in containers[1]["ports"]] == [81, 80]
    assert containers[2]["image"] == "bb:1.36"
    assert containers[1]["envFrom"][0]["secretRef"]["name"] == "p-creds-s"
    assert pod["spec"]["serviceAccountName"] == "p-sa-s" and "volumes" not in pod["spec"]
    assert deployment["spec"]["progressDeadlineSeconds"] == 15
    assert objects[("HorizontalPodAutoscaler", "p-web-s")]["spec"]["scaleTargetRef"]["name"] == "p-web-s"
    assert objects[("Service", "p-web-s")]["spec"]["selector"] == {"app": "web", "team": "t"}
    assert [p["port"] for p in objects[("Service", "p-web-s")]["spec"]["ports"]] == [80, 9090]
    assert objects[("NetworkPolicy", "p-web-s")]["spec"]["ingress"][0]["from"][0]["podSelector"][
        "matchLabels"
    ] == {"app": "client", "team": "t"}
    assert objects[("PodDisruptionBudget", "p-web-s")]["spec"]["selector"]["matchLabels"] == {
        "app": "web",
        "team": "t",
    }
    assert "tier" not in objects[("Service", "p-web-s")]["spec"]["selector"]


def test_render_records_every_file_it_read(features_tree):
    files = render(features_tree).files
    names = {Path(p).name for p in files}
    assert {"kustomization.yaml", "objects.yaml", "patch.yaml", "extra.yaml"} <= names
    assert all(len(h) == 64 for h in files.values())


@pytest.mark.parametrize(
    "files, fragment",
    [
        (
            {"kustomization.yaml": "resources: [a.yaml]\nconfigMapGenerator: []\n", "a.yaml": ""},
            "key 'configMapGenerator' is not supported",
        ),
        ({"kustomization.yaml": "resources: [missing.yaml]\n"}, "resources: 'missing.yaml' not found"),
        ({"kustomization.yaml": "resources: [.]\n"}, "kustomization cycle"),
        (
            {
                "kustomization.yaml": "resources: [a.yaml]\npatches:\n- patch: |\n    kind: Deployment\n    metadata: {name: nope}\n",
                "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            },
            "no resource matches Deployment/nope",
        ),
        (
            {
                "kustomization.yaml": "resources: [a.yaml]\n",
                "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            },
            "ConfigMap has no metadata.name",
        ),
        (
            {
                "kustomization.yaml": "resources: [a.yaml, a.yaml]\n",
                "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            },
            "is defined twice",
        ),
        ({"kustomization.yaml": "resources: [a.yaml]\n", "a.yaml": "kind: [unclosed\n"}, "invalid YAML"),
        (
            {
                "kustomization.yaml": "resources: [a.yaml]\npatches:\n- patch: 'a: b: c'\n",
                "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            },
            "invalid YAML (mapping values",
        ),
    ],
)
def test_unsupported_or_broken_kustomizations_are_one_line_errors(tmp_path, files, fragment):
    write(tmp_path, files)
    with pytest.raises(InputError, match=re.escape(fragment)) as caught:
        render(tmp_path)
    assert "\n" not in str(caught.value)


def test_strategic_merge_null_deletes_and_replace_directive():
    original = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": {"f": 1}}
    assert strategic_merge(original, {"a": {"b": None}, "d": [3], "e": {"$patch": "replace", "g": 2}}) == {
        "a": {"c": 2},
        "d": [3],
        "e": {"g": 2},
    }


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("app", ("app", None, None)),
        ("reg.io:5000/team/app:1.2", ("reg.io:5000/team/app", "1.2", None)),
        ("app@sha256:abc123", ("app", None, "sha256:abc123")),
        ("ghcr.io/a/b:v1@sha256:00ff", ("ghcr.io/a/b", "v1", "sha256:00ff")),
    ],
)
def test_split_image(reference, expected):
    assert split_image(reference) == expected


def test_image_overrides_from_the_command_line():
    assert image_override("mlgate/credit-model", "ghcr.io/acme/credit:2.0") == {
        "name": "mlgate/credit-model",
        "newName": "ghcr.io/acme/credit",
        "newTag": "2.0",
    }
    assert image_override("mlgate/credit-model", ":1.1.0") == {
        "name": "mlgate/credit-model",
        "newTag": "1.1.0",
    }
    assert image_override("app", "app@sha256:ab12") == {"name": "app", "digest": "sha256:ab12"}
    with pytest.raises(InputError, match="give a tag or a digest"):
        image_override("app", "app")
    objects = render(
        K8S / "overlays/staging", images={"mlgate/credit-model": "reg.io/credit@sha256:ab12"}
    ).objects
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.io/credit@sha256:ab12"
    with pytest.raises(InputError, match="no container .* uses an image named 'other'"):
        render(K8S / "overlays/staging", images={"other": "x:1"})


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


@pytest.mark.parametrize("environment, minimum", [("staging", 1), ("production", 3)])
def test_overlays_shape_of_the_example_service(environment, minimum):
    objects = _by_kind(render(K8S / "overlays" / environment).objects)
    assert set(objects) == {
        "Namespace",
        "ServiceAccount",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    }
    namespace = f"credit-{environment}"
    assert objects["Namespace"]["metadata"]["name"] == namespace
    assert all(o["metadata"].get("namespace") == namespace for k, o in objects.items() if k != "Namespace")
    deployment = objects["Deployment"]
    spec = deployment["spec"]
    assert "replicas" not in spec  # owned by the HPA
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]
    assert (
        pod["metadata"]["labels"]["app"] == "credit-model" and pod["metadata"]["labels"]["track"] == "stable"
    )
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    container = pod["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert objects["Service"]["spec"]["selector"] == {"app": "credit-model"}  # stable and canary pods alike
    assert objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == minimum
    assert check_objects(list(objects.values()), environment) == []


def test_canary_deployment_has_the_stable_pod_spec_and_track_canary():
    stable = _by_kind(render(K8S / "base").objects)["Deployment"]
    canary = render(K8S / "canary").objects[0]
    assert canary["metadata"]["name"] == "credit-model-canary"
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "credit-model", "track": "canary"}
    assert canary["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
    assert canary["spec"]["template"]["spec"] == stable["spec"]["template"]["spec"]
    assert (
        canary["spec"]["template"]["metadata"]["annotations"]
        == stable["spec"]["template"]["metadata"]["annotations"]
    )
    rest = {k: v for k, v in canary["spec"].items() if k not in ("selector", "template", "replicas")}
    assert rest == {k: v for k, v in stable["spec"].items() if k not in ("selector", "template")}


@pytest.mark.parametrize("path", KUSTOMIZATIONS[1:], ids=lambda p: str(p.relative_to(ROOT)))
def test_rendered_manifests_pass_the_security_gates_manifest_policy(path):
    manifests = pytest.importorskip("gates.security.manifests")
    from gates.security.rules import level_of

    objects = render(path, namespace="ns" if "canary" in str(path) else None).objects
    hits = manifests.evaluate([manifests.K8sObject(str(path), i + 1, o) for i, o in enumerate(objects)])
    assert [
        f"{h.rule}: {h.message}" for h in hits if level_of(h.rule, {}) == "error" and not h.exempt_reason
    ] == []
    # pinned by digest when deployed with one: then not even a warning is left
    pinned = render(
        path,
        images={"mlgate/credit-model": "reg.io/credit@sha256:" + "ab" * 32},
        namespace="ns" if "canary" in str(path) else None,
    ).objects
    hits = manifests.evaluate([manifests.K8sObject(str(path), i + 1, o) for i, o in enumerate(pinned)])
    assert [h.rule for h in hits if level_of(h.rule, {}) not in ("off", "note")] == []


def test_check_objects_finds_selector_mismatch_and_missing_namespace():
    objects = render(K8S / "base").objects
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    problems = check_objects(objects, "base")
    assert any("do not match the selector" in p for p in problems)
    assert any("no namespace" in p for p in problems)


def test_deploy_print_renders_with_images_and_namespace(cli):
    result = cli(
        "--no-audit",
        "deploy",
        "--print",
        "--manifests",
        K8S / "overlays/staging",
        "--image",
        "mlgate/credit-model=:1.2.3",
        "--namespace",
        "elsewhere",
    )
    assert result.code == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"elsewhere"}
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "mlgate/credit-model:1.2.3"


def test_deploy_flag_errors_are_one_line(cli):
    result = cli("deploy", "--print")
    assert result.code == 2 and "give --environment" in result.stderr
    result = cli("deploy", "--print", "--manifests", K8S / "overlays/staging", "--image", "oops")
    assert result.code == 2 and "expected NAME=REFERENCE" in result.stderr
    result = cli("deploy", "-e", "nowhere", "--print")
    assert result.code == 2 and "overlay of environment 'nowhere' not found" in result.stderr


def test_deploy_stops_before_the_cluster_when_the_manifest_policy_fails(cli, tmp_path):
    pytest.importorskip("gates.security.manifests")
    write(
        tmp_path / "bad",
        {
            "kustomization.yaml": f"resources: [{os.path.relpath(K8S / 'overlays/staging', tmp_path / 'bad')}]\n"
            "patches:\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n"
            "    metadata: {name: credit-model}\n    spec:\n      template:\n        spec:\n"
            "          containers:\n          - name: model\n            securityContext:\n"
            "              privileged: true\n              allowPrivilegeEscalation: true\n"
        },
    )
    # no kubeconfig anywhere: reaching the cluster would be exit 2, so exit 1 proves it stopped before
    result = cli("deploy", "--manifests", tmp_path / "bad", env={"KUBECONFIG": str(tmp_path / "missing")})
    assert result.code == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "mlgate-reports/mlgate.json").read_text())["gates"][0]
    assert [c["name"] for c in report["checks"]] == ["validate"]
    assert report["checks"][0]["status"] == "fail" and "nothing was applied" in report["checks"][0]["why"]


def test_deploy_without_credentials_is_a_one_line_error(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = cli("deploy", "--manifests", K8S / "overlays/staging")
    assert result.code == 2
    assert result.stderr_lines == [
        (
            "mlgate: error: no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, "
            "create ~/.kube/config, or run inside a cluster"
        )
    ]
    assert (tmp_path / "mlgate-reports/junit.xml").is_file()  # reports are written whatever the outcome
