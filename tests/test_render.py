"""Rendering through `kubectl kustomize`, the example's manifests, and `mlgate deploy --print`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from gates.core.errors import InputError
from gates.deploy import render as render_module
from gates.deploy.render import check_objects, image_override, render, split_image

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
STAGING = K8S / "overlays" / "staging"
KUSTOMIZATIONS = [K8S / "base", STAGING, K8S / "overlays/production", K8S / "canary"]
FIXTURES = Path(__file__).parent / "fixtures" / "render"
KUBECTL = shutil.which("kubectl")

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize v5) not installed")


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return directory


def kubectl_kustomize(path: Path) -> list[dict]:
    assert KUBECTL
    out = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def fake_kubectl(bin_dir: Path, version_json: str, log: Path | None = None) -> Path:
    """A kubectl that answers `version` with `version_json` (and logs the call); anything else goes to the real
    kubectl when there is one."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then\n'
        + (f"  echo version >> '{log}'\n" if log else "")
        + f"  echo '{version_json}'\n  exit 0\nfi\n"
        + (f'exec "{KUBECTL}" "$@"\n' if KUBECTL else "exit 1\n")
    )
    script.chmod(0o755)
    return script


def by_name(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


# --- kustomize renders: what is applied is what `kubectl kustomize` shows -------------------------------------


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_example_manifests_render_as_kubectl_kustomize_shows_them(path):
    rendered = render(path)
    assert rendered.objects == kubectl_kustomize(path)
    assert rendered.renderer == "kubectl" and rendered.kustomize.startswith("v5.")


@needs_kubectl
def test_name_prefix_and_labels_reach_every_reference_the_old_subset_missed():
    """namePrefix on an Ingress backend, a RoleBinding's roleRef and subject, a StatefulSet's serviceName and
    claim names; commonLabels on volumeClaimTemplates and a CronJob's pod template."""
    objects = by_name(render(FIXTURES / "overlay").objects)
    ingress = objects[("Ingress", "blue-web")]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "blue-web"
    binding = objects[("RoleBinding", "blue-reader")]
    assert binding["roleRef"]["name"] == "blue-reader"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "blue-runner", "namespace": "team"}]
    statefulset = objects[("StatefulSet", "blue-web")]["spec"]
    assert statefulset["serviceName"] == "blue-web"
    assert (
        statefulset["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "blue-shared"
    )
    assert statefulset["template"]["spec"]["serviceAccountName"] == "blue-runner"
    assert statefulset["volumeClaimTemplates"][0]["metadata"]["labels"] == {"team": "blue"}
    cronjob = objects[("CronJob", "blue-nightly")]["spec"]["jobTemplate"]
    assert cronjob["spec"]["template"]["metadata"]["labels"] == {"team": "blue"}
    assert {o["metadata"]["namespace"] for o in objects.values()} == {"team"}


@needs_kubectl
def test_files_hold_the_overlay_and_every_local_base_it_names(tmp_path):
    files = render(FIXTURES / "overlay").files
    assert set(files) == {
        str(FIXTURES / "overlay" / "kustomization.yaml"),
        str(FIXTURES / "base" / "kustomization.yaml"),
        str(FIXTURES / "base" / "objects.yaml"),
    }
    assert all(len(digest) == 64 for digest in files.values())
    # components and bases nested two levels deep, and a base named twice, are hashed once each
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "mid/kustomization.yaml": "resources: [../base]\n",
            "comp/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations: {a: b}\n"
            ),
            "top/kustomization.yaml": "resources: [../mid]\ncomponents: [../comp]\n",
        },
    )
    names = {str(Path(p).relative_to(tmp_path)) for p in render(tmp_path / "top").files}
    assert names == {
        "top/kustomization.yaml",
        "mid/kustomization.yaml",
        "base/kustomization.yaml",
        "base/cm.yaml",
        "comp/kustomization.yaml",
    }


# --- overrides: a wrapping kustomization, exactly what `kustomize edit set image / namespace` would write ------


@needs_kubectl
@pytest.mark.parametrize(
    "reference, entry, image",
    [
        ("reg.io/credit:2.0", {"newName": "reg.io/credit", "newTag": "2.0"}, "reg.io/credit:2.0"),
        (":1.2.3", {"newTag": "1.2.3"}, "mlgate/credit-model:1.2.3"),
        ("reg.io/credit@sha256:ab12", {"newName": "reg.io/credit", "digest": "sha256:ab12"}, None),
    ],
)
def test_image_and_namespace_overrides_match_a_wrapping_overlay(tmp_path, reference, entry, image):
    overlay = write(
        tmp_path / "wrap",
        {
            "kustomization.yaml": json.dumps(
                {
                    "resources": [os.path.relpath(STAGING, tmp_path / "wrap")],
                    "namespace": "elsewhere",
                    "images": [{"name": "mlgate/credit-model", **entry}],
                }
            )
        },
    )
    objects = render(STAGING, images={"mlgate/credit-model": reference}, namespace="elsewhere").objects
    assert objects == kubectl_kustomize(overlay)
    deployment = by_name(objects)[("Deployment", "credit-model")]
    assert deployment["metadata"]["namespace"] == "elsewhere"
    assert ("Namespace", "elsewhere") in by_name(objects)  # kustomize renames the Namespace object
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == (image or "reg.io/credit@sha256:ab12")


@needs_kubectl
def test_an_image_no_container_uses_is_an_error():
    with pytest.raises(
        InputError, match=r"--image other=\.\.\.: no container in .*staging uses an image named"
    ):
        render(STAGING, images={"mlgate/credit-model": ":1.0.1", "other": "x:1"})


@needs_kubectl
def test_a_plain_manifest_file_and_a_folder_render_together(tmp_path):
    extra = (
        write(
            tmp_path,
            {"extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"},
        )
        / "extra.yaml"
    )
    rendered = render([STAGING, extra], images={"mlgate/credit-model": ":1.1.0"}, namespace="elsewhere")
    objects = by_name(rendered.objects)
    assert objects[("ConfigMap", "settings")]["metadata"]["namespace"] == "elsewhere"
    assert objects[("Deployment", "credit-model")]["metadata"]["namespace"] == "elsewhere"
    assert str(extra) in rendered.files and str(K8S / "base" / "deployment.yaml") in rendered.files
    # a kustomization file stands for its folder
    assert render(STAGING / "kustomization.yaml").objects == render(STAGING).objects


@needs_kubectl
def test_a_plain_file_alone_renders_and_its_errors_name_the_file_not_the_copy(tmp_path):
    good = write(tmp_path, {"m.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n"}) / "m.yaml"
    assert [o["kind"] for o in render(good).objects] == ["Namespace"]
    broken = write(tmp_path, {"broken.yaml": "kind: [unclosed\n"}) / "broken.yaml"
    with pytest.raises(InputError, match=r"broken.yaml: line 2: invalid YAML \(expected ','"):
        render(broken)
    bad = write(tmp_path, {"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [x]\n"}) / "bad.yaml"
    with pytest.raises(InputError) as raised:
        render(bad, namespace="x")
    message = str(raised.value)
    assert message.startswith(f"{bad}: kubectl kustomize failed: ") and "\n" not in message
    assert f"accumulating resources from '{bad}'" in message and "missing metadata.name" in message
    assert "000-" not in message and "mlgate-render" not in message


@needs_kubectl
@pytest.mark.parametrize(
    "files, fragment",
    [
        (
            {"kustomization.yaml": "resources: [a.yaml]\nbogusKey: 1\n", "a.yaml": ""},
            'unknown field "bogusKey"',
        ),
        ({"kustomization.yaml": "resources: [missing.yaml]\n"}, "missing.yaml"),
        (
            {
                "kustomization.yaml": "resources: [a.yaml]\n",
                "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [x]\n",
            },
            "missing metadata.name",
        ),
        ({"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}, "unable to find one of"),
    ],
)
def test_kustomize_errors_are_one_line_naming_the_folder(tmp_path, files, fragment):
    write(tmp_path, files)
    with pytest.raises(InputError) as raised:
        render(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path}: kubectl kustomize failed: ")
    assert fragment in message and "\n" not in message and "run.go" not in message


WEB = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n"
PATCH = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  replicas: 3\n"


@needs_kubectl
@pytest.mark.parametrize(
    "files, where",
    [
        (
            {"kustomization.yaml": "resources: [web.yaml]\npatches:\n- path: p.yaml\n", "p.yaml": PATCH},
            "p.yaml: line 6: invalid YAML (duplicate key 'replicas' at line 6 (first at line 5))",
        ),
        (
            {
                "kustomization.yaml": "resources: [web.yaml]\npatches:\n- patch: |\n"
                + textwrap.indent(PATCH, "    "),
            },
            "kustomization.yaml: patches[0]: line 6: invalid YAML (duplicate key 'replicas' at line 6",
        ),
        (
            {"kustomization.yaml": "resources: [web.yaml]\nnamespace: a\nnamespace: b\n"},
            "kustomization.yaml: line 3: invalid YAML (duplicate key 'namespace' at line 3 (first at line 2))",
        ),
    ],
)
def test_duplicate_keys_that_kustomize_would_let_pass_are_refused(tmp_path, files, where):
    write(tmp_path, {"web.yaml": WEB, **files})
    kubectl_kustomize(tmp_path)  # kustomize takes the first of the two values without a word
    with pytest.raises(InputError) as raised:
        render(tmp_path)
    assert f"{tmp_path}/{where}" in str(raised.value)


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(InputError, match="nowhere: manifest directory or file not found"):
        render(tmp_path / "nowhere")


# --- kubectl itself: missing or too old is exit 2, said in one line -------------------------------------------


def test_missing_kubectl_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError) as raised:
        render(STAGING)
    assert str(raised.value) == (
        "kubectl not found on PATH: mlgate renders manifests with `kubectl kustomize` (kustomize v5 ships "
        "inside kubectl >= 1.27); install kubectl"
    )
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    "version_json, fragment",
    [
        (
            '{"clientVersion": {"gitVersion": "v1.25.0"}, "kustomizeVersion": "v4.5.7"}',
            "(kubectl v1.25.0) ships kustomize v4.5.7: mlgate needs kustomize v5 or later",
        ),
        (
            '{"clientVersion": {"gitVersion": "v1.22.0"}, "kustomizeVersion": "v2.0.3"}',
            "ships kustomize v2.0.3",
        ),
        (  # Debian's kubernetes-client 1.20: its kustomize (v2) is not even reported
            '{"clientVersion": {"gitVersion": "v1.20.15"}}',
            "(kubectl v1.20.15) does not report a kustomize version",
        ),
    ],
)
def test_kubectl_with_an_old_kustomize_is_refused(tmp_path, monkeypatch, version_json, fragment):
    fake_kubectl(tmp_path / "bin", version_json)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(InputError) as raised:
        render(STAGING)
    assert fragment in str(raised.value) and "\n" not in str(raised.value)
    assert str(tmp_path / "bin" / "kubectl") in str(raised.value)


@needs_kubectl
def test_the_version_check_runs_once_per_kubectl(tmp_path, monkeypatch):
    log = tmp_path / "calls"
    fake_kubectl(tmp_path / "bin", '{"kustomizeVersion": "v5.4.2"}', log)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert render(STAGING).kustomize == "v5.4.2"
    assert render(K8S / "base").kustomize == "v5.4.2"
    assert log.read_text().splitlines() == ["version"]


def test_kubectl_error_lines_are_read_from_klog():
    read = render_module._kubectl_message
    assert read('E1204 06:16:32.065978   13159 run.go:72] "command failed" err="invalid: \\"x\\""\n') == (
        'invalid: "x"'
    )
    seen = (  # kustomize's error on a resource with a duplicate key, as kubectl 1.32 prints it
        'E1204 06:20:46.282199   17533 run.go:72] "command failed" err=<\n'
        "\tmap[string]interface {}(nil): yaml: unmarshal errors:\n"
        '\t  line 5: mapping key "name" already defined at line 4\n'
        " >\n"
    )
    assert read(seen) == (
        'map[string]interface {}(nil): yaml: unmarshal errors: line 5: mapping key "name" already defined at line 4'
    )
    assert read("error: unknown command\n") == "error: unknown command"
    assert read("") == "no error message"
    assert len(read("x" * 5000)) == render_module.MAX_MESSAGE


# --- image references -------------------------------------------------------------------------------------------


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


# --- the example's manifests ------------------------------------------------------------------------------------


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


@needs_kubectl
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


@needs_kubectl
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


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS[1:], ids=lambda p: str(p.relative_to(ROOT)))
def test_rendered_manifests_pass_the_security_gates_manifest_policy(path):
    manifests = pytest.importorskip("gates.security.manifests")
    from gates.security.rules import level_of

    namespace = "ns" if "canary" in str(path) else None
    objects = render(path, namespace=namespace).objects
    hits = manifests.evaluate([manifests.K8sObject(str(path), i + 1, o) for i, o in enumerate(objects)])
    assert [
        f"{h.rule}: {h.message}" for h in hits if level_of(h.rule, {}) == "error" and not h.exempt_reason
    ] == []
    # pinned by digest when deployed with one: then not even a warning is left
    pinned = render(
        path, images={"mlgate/credit-model": "reg.io/credit@sha256:" + "ab" * 32}, namespace=namespace
    ).objects
    hits = manifests.evaluate([manifests.K8sObject(str(path), i + 1, o) for i, o in enumerate(pinned)])
    assert [h.rule for h in hits if level_of(h.rule, {}) not in ("off", "note")] == []


@needs_kubectl
def test_check_objects_finds_selector_mismatch_and_missing_namespace():
    objects = render(K8S / "base").objects
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    problems = check_objects(objects, "base")
    assert any("do not match the selector" in p for p in problems)
    assert any("no namespace" in p for p in problems)


# --- mlgate deploy --print / --dry-run --------------------------------------------------------------------------


@needs_kubectl
def test_deploy_print_renders_with_images_and_namespace(cli):
    result = cli(
        "--no-audit",
        "deploy",
        "--print",
        "--manifests",
        STAGING,
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
    assert objects == render(STAGING, {"mlgate/credit-model": ":1.2.3"}, "elsewhere").objects


def test_deploy_flag_errors_are_one_line(cli):
    result = cli("deploy", "--print")
    assert result.code == 2 and "give --environment" in result.stderr
    result = cli("deploy", "--print", "--manifests", STAGING, "--image", "oops")
    assert result.code == 2 and "expected NAME=REFERENCE" in result.stderr
    result = cli("deploy", "-e", "nowhere", "--print")
    assert result.code == 2 and "overlay of environment 'nowhere' not found" in result.stderr


def test_the_builtin_renderer_is_gone_from_flags_and_policy(cli, tmp_path):
    result = cli("deploy", "--print", "--manifests", STAGING, "--renderer", "builtin")
    assert result.code == 2 and "--renderer" in result.stderr
    (tmp_path / "gates.yml").write_text("version: 1\ndeploy:\n  renderer: builtin\n")
    result = cli("--policy", "gates.yml", "deploy", "--print", "--manifests", STAGING)
    assert result.code == 2
    assert len(result.stderr_lines) == 1 and "unknown key 'renderer'" in result.stderr_lines[0]


def test_deploy_without_kubectl_is_a_one_line_exit_2(cli, tmp_path):
    result = cli("--no-audit", "deploy", "--print", "--manifests", STAGING, env={"PATH": str(tmp_path)})
    assert result.code == 2
    assert result.stderr_lines == [f"mlgate: error: {render_module.NO_KUBECTL}"]


@needs_kubectl
def test_deploy_stops_before_the_cluster_when_the_manifest_policy_fails(cli, tmp_path):
    pytest.importorskip("gates.security.manifests")
    write(
        tmp_path / "bad",
        {
            "kustomization.yaml": f"resources: [{os.path.relpath(STAGING, tmp_path / 'bad')}]\n"
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
    assert report["evidence"]["renderer"] == "kubectl" and report["evidence"]["kustomize"].startswith("v5.")
    assert str(K8S / "base" / "deployment.yaml") in report["evidence"]["inputs"]


@needs_kubectl
def test_deploy_without_credentials_is_a_one_line_error(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = cli("deploy", "--manifests", STAGING)
    assert result.code == 2
    assert result.stderr_lines == [
        (
            "mlgate: error: no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, "
            "create ~/.kube/config, or run inside a cluster"
        )
    ]
    assert (tmp_path / "mlgate-reports/junit.xml").is_file()  # reports are written whatever the outcome
