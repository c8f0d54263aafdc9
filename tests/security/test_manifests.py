"""Kubernetes manifest policy on a good Deployment + Service + PDB set, and on broken copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.security import manifests

FIXTURES = Path(__file__).parents[1] / "fixtures" / "security"
GOOD = FIXTURES / "k8s" / "good"
REPO = Path(__file__).parents[2]


def _run(base: Path, paths: list[str], levels: dict | None = None, **section):
    ctx = GateContext(base_dir=base, report_dir=base / "reports")
    return manifests.check({"paths": paths, **section}, ctx, levels or {})


def _broken(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    """A copy of the good set with one edit; the edit must apply exactly `count` times."""
    target = tmp_path / "k8s"
    shutil.copytree(GOOD, target)
    app = target / "base" / "app.yaml"
    text = app.read_text()
    assert text.count(old) == count, f"fixture edit {old!r} applies {text.count(old)} times"
    app.write_text(text.replace(old, new))
    return app


def _line(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def _hits(app: Path) -> list[tuple[str, int | None]]:
    objects, _, _ = manifests.collect([str(app.parent)], GateContext(app.parent, app.parent / "r"), [])
    return sorted((h.rule, h.line) for h in manifests.evaluate(objects) if not h.exempt_reason)


def test_good_manifests_pass():
    part = _run(FIXTURES, ["k8s/good"])
    assert [(c.name, c.status) for c in part.checks] == [("manifests", Status.PASS)]
    assert part.findings == []
    assert part.evidence["skipped"] == ["k8s/good/overlays/production/replicas.yaml (kustomize patch)"]
    assert "1 workload(s) among 5 object(s)" in part.checks[0].why


@pytest.mark.parametrize(
    "old, new, rule, needle",
    [
        ("runAsNonRoot: true", "runAsNonRoot: false", "k8s.run-as-non-root", "runAsNonRoot"),
        ("runAsUser: 10001", "runAsUser: 0", "k8s.run-as-non-root", "runAsUser"),
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "k8s.read-only-root-fs",
            "readOnlyRoot",
        ),
        (
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
            "k8s.no-privilege-escalation",
            "allowPrivilegeEscalation",
        ),
        ("privileged: false", "privileged: true", "k8s.not-privileged", "privileged:"),
        ('drop: ["ALL"]', 'drop: ["NET_RAW"]', "k8s.drop-all-capabilities", "drop:"),
        (
            'drop: ["ALL"]',
            'drop: ["ALL"]\n              add: ["SYS_ADMIN"]',
            "k8s.added-capabilities",
            "add:",
        ),
        (
            "automountServiceAccountToken: false",
            "automountServiceAccountToken: true",
            "k8s.service-account-token",
            "automountServiceAccountToken",
        ),
        (
            "      automountServiceAccountToken: false\n",
            "      hostNetwork: true\n      automountServiceAccountToken: false\n",
            "k8s.host-namespaces",
            "hostNetwork",
        ),
        (
            "          emptyDir: {}",
            "          hostPath:\n            path: /var/run",
            "k8s.host-path",
            "hostPath:",
        ),
        (
            '            limits:\n              cpu: "1"\n',
            "            limits:\n",
            "k8s.resource-limits",
            "limits:",
        ),
        (
            "            requests:\n              cpu: 250m\n",
            "            requests:\n",
            "k8s.resource-requests",
            "requests:",
        ),
        (
            "credit-model:1.4.0@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "credit-model:1.4.0",
            "k8s.image-digest",
            "image:",
        ),
    ],
)
def test_each_broken_field_gives_its_rule_at_its_line(tmp_path, old, new, rule, needle):
    app = _broken(tmp_path, old, new)
    assert _hits(app) == [(rule, _line(app, needle))]


def test_missing_probes(tmp_path):
    app = _broken(
        tmp_path,
        "          readinessProbe:\n            httpGet:\n              path: /ready\n"
        "              port: http\n            periodSeconds: 5\n",
        "",
    )
    assert _hits(app) == [("k8s.readiness-probe", _line(app, "- name: model"))]


def test_latest_image_fails_tag_and_digest(tmp_path):
    app = _broken(
        tmp_path,
        "credit-model:1.4.0@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "credit-model:latest",
    )
    line = _line(app, "image:")
    assert _hits(app) == [("k8s.image-digest", line), ("k8s.image-tag", line)]
    app.write_text(app.read_text().replace("credit-model:latest", "credit-model"))
    assert _hits(app) == [("k8s.image-digest", line), ("k8s.image-tag", line)]


def test_multi_replica_deployment_needs_a_pdb(tmp_path):
    app = _broken(
        tmp_path,
        "minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: credit-model",
        "minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: other",
    )
    assert _hits(app) == [("k8s.pdb", _line(app, "replicas: 2"))]
    app.write_text(app.read_text().replace("replicas: 2", "replicas: 1"))
    assert _hits(app) == []


def test_hpa_min_replicas_counts_for_the_pdb(tmp_path):
    app = _broken(
        tmp_path,
        "minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: credit-model",
        "minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: other",
    )
    app.write_text(
        app.read_text().replace("replicas: 2", "replicas: 1")
        + """---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: credit-model
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: credit-model}
  minReplicas: 2
  maxReplicas: 6
"""
    )
    assert [rule for rule, _ in _hits(app)] == ["k8s.pdb"]


def test_service_account_may_disable_the_token(tmp_path):
    app = _broken(
        tmp_path, "      automountServiceAccountToken: false\n", "      serviceAccountName: model\n"
    )
    assert [rule for rule, _ in _hits(app)] == ["k8s.service-account-token"]
    (app.parent / "sa.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: model\n"
        "automountServiceAccountToken: false\n"
    )
    assert _hits(app) == []


def test_a_badly_broken_copy_fails_many_rules(tmp_path):
    target = tmp_path / "bad.yaml"
    target.write_text("""apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: 3
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      hostPID: true
      containers:
        - name: app
          image: nginx
          securityContext: {privileged: true}
""")
    part = _run(tmp_path, ["bad.yaml"])
    failed = {c.name for c in part.checks if c.status is Status.FAIL}
    assert failed == {
        f"manifests:{r}"
        for r in (
            "k8s.run-as-non-root",
            "k8s.read-only-root-fs",
            "k8s.no-privilege-escalation",
            "k8s.not-privileged",
            "k8s.drop-all-capabilities",
            "k8s.seccomp",
            "k8s.host-namespaces",
            "k8s.resource-requests",
            "k8s.resource-limits",
            "k8s.liveness-probe",
            "k8s.readiness-probe",
            "k8s.image-tag",
            "k8s.pdb",
            "k8s.service-account-token",
        )
    }
    assert {c.name for c in part.checks if c.status is Status.WARN} == {"manifests:k8s.image-digest"}
    privileged = next(c for c in part.checks if c.name == "manifests:k8s.not-privileged")
    assert privileged.location.line == 14 and "Deployment/bad (document 1) container app" in privileged.why
    assert all(f.location and f.location.path == str(target) for f in part.findings)


def test_exemption_annotation_with_reason(tmp_path):
    app = _broken(
        tmp_path,
        "  labels:\n    app.kubernetes.io/name: credit-model\nspec:",
        "  labels:\n    app.kubernetes.io/name: credit-model\n  annotations:\n"
        "    mlgate.io/exempt: k8s.read-only-root-fs, k8s.image-digest\n"
        "    mlgate.io/exempt-reason: model cache on the root fs until ticket 42\nspec:",
    )
    app.write_text(app.read_text().replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    part = _run(tmp_path, ["k8s"])
    assert [(c.name, c.status) for c in part.checks] == [("manifests", Status.PASS)]
    assert "1 exempted" in part.checks[0].why
    assert [(f.rule_id, f.suppressed) for f in part.findings] == [
        ("k8s.read-only-root-fs", "mlgate.io/exempt: model cache on the root fs until ticket 42")
    ]


def test_exemption_without_reason_is_not_honoured(tmp_path):
    app = _broken(
        tmp_path,
        "  labels:\n    app.kubernetes.io/name: credit-model\nspec:",
        "  labels:\n    app.kubernetes.io/name: credit-model\n  annotations:\n"
        "    mlgate.io/exempt: k8s.read-only-root-fs\nspec:",
    )
    app.write_text(app.read_text().replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    assert _hits(app) == [
        ("k8s.exemption-without-reason", _line(app, "mlgate.io/exempt")),
        ("k8s.read-only-root-fs", _line(app, "readOnlyRootFilesystem")),
    ]


def test_rule_levels_from_the_policy(tmp_path):
    _broken(
        tmp_path,
        "credit-model:1.4.0@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "credit-model:1.4.0",
    )
    assert _run(tmp_path, ["k8s"]).checks[0].status is Status.WARN
    assert _run(tmp_path, ["k8s"], {"k8s.image-digest": "error"}).checks[0].status is Status.FAIL
    off = _run(tmp_path, ["k8s"], {"k8s.image-digest": "off"})
    assert off.checks[0].status is Status.PASS and off.findings == []


def test_lists_multiple_documents_and_cronjobs(tmp_path):
    (tmp_path / "all.yml").write_text("""---
apiVersion: v1
kind: List
items:
  - apiVersion: batch/v1
    kind: CronJob
    metadata: {name: retrain}
    spec:
      schedule: "0 3 * * *"
      jobTemplate:
        spec:
          template:
            spec:
              automountServiceAccountToken: false
              securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
              containers:
                - name: train
                  image: ghcr.io/acme/train:2.0@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
                  securityContext:
                    readOnlyRootFilesystem: true
                    allowPrivilegeEscalation: false
                    capabilities: {drop: [ALL]}
                  resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 2, memory: 2Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: sh, image: busybox:1.36}]
""")
    objects, _, _ = manifests.collect(["all.yml"], GateContext(tmp_path, tmp_path / "r"), [])
    assert [(o.kind, o.document) for o in objects] == [("CronJob", 1), ("Pod", 2)]
    hits = manifests.evaluate(objects)
    assert not [h for h in hits if "retrain" in h.subject]  # a batch job needs no probes
    assert {h.rule for h in hits if "debug" in h.subject} >= {"k8s.liveness-probe", "k8s.run-as-non-root"}


def test_kustomize_images_pin_untagged_base_images(tmp_path):
    base = tmp_path / "k8s" / "base"
    app = _broken(
        tmp_path,
        "credit-model:1.4.0@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "credit-model",
    )
    shutil.rmtree(tmp_path / "k8s" / "overlays")
    assert [rule for rule, _ in _hits(app)] == ["k8s.image-digest", "k8s.image-tag"]
    assert (base / "kustomization.yaml").read_text().endswith("resources:\n  - app.yaml\n")
    overlay = tmp_path / "k8s" / "prod"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base]\nimages:\n  - name: ghcr.io/acme/credit-model\n    newTag: 1.4.0\n"
    )
    objects, _, _ = manifests.collect(["k8s"], GateContext(tmp_path, tmp_path / "r"), [])
    hits = manifests.evaluate(objects)
    assert [h.rule for h in hits] == ["k8s.image-digest"]
    assert "kustomize: ghcr.io/acme/credit-model:1.4.0" in hits[0].message
    (base / "kustomization.yaml").write_text(
        "resources: [app.yaml]\nimages:\n  - name: ghcr.io/acme/credit-model\n"
        "    digest: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
    )
    objects, _, _ = manifests.collect(["k8s"], GateContext(tmp_path, tmp_path / "r"), [])
    assert manifests.evaluate(objects) == []


def test_yaml_errors_and_unsafe_tags_are_input_errors(tmp_path):
    (tmp_path / "broken.yaml").write_text("kind: Deployment\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(InputError, match=r"broken.yaml: line \d+"):
        _run(tmp_path, ["broken.yaml"])
    (tmp_path / "tag.yaml").write_text("kind: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(InputError, match="tag.yaml"):
        _run(tmp_path, ["tag.yaml"])


def test_no_workloads_is_an_error_not_a_pass(tmp_path):
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    assert _run(tmp_path, ["svc.yaml"]).checks[0].status is Status.ERROR


@pytest.mark.skipif(
    not (REPO / "k8s").is_dir() or not any((REPO / "k8s").rglob("*.yaml")),
    reason="the example's k8s/ manifests are not written yet",
)
def test_example_manifests_pass():
    part = _run(REPO, ["k8s"])
    assert all(c.status.passed for c in part.checks), [c.why for c in part.checks if not c.status.passed]


@pytest.mark.skipif(
    not (REPO / "k8s" / "base" / "deployment.yaml").is_file(),
    reason="the example's k8s/base/deployment.yaml is not written yet",
)
def test_broken_copy_of_the_example_deployment_fails(tmp_path):
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    deployment = tmp_path / "k8s" / "base" / "deployment.yaml"
    text = deployment.read_text()
    assert "readOnlyRootFilesystem: true" in text
    deployment.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    part = _run(tmp_path, ["k8s"])
    failed = {c.name: c for c in part.checks if c.status is Status.FAIL}
    assert "manifests:k8s.read-only-root-fs" in failed
    assert failed["manifests:k8s.read-only-root-fs"].location.line == _line(
        deployment, "readOnlyRootFilesystem"
    )


# --- kustomizations are rendered and their objects checked too ---------------------------------------------------

DANGER_PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: credit-model
spec:
  template:
    spec:
      hostNetwork: true
      containers:
        - name: model
          image: mlgate/credit-model:latest
          securityContext:
            privileged: true
"""


@pytest.mark.skipif(
    not (REPO / "k8s" / "overlays" / "production" / "kustomization.yaml").is_file(),
    reason="the example's k8s/overlays/production is not written yet",
)
def test_production_patch_and_overlay_images_are_checked(tmp_path):
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    production = tmp_path / "k8s" / "overlays" / "production"
    (production / "danger-patch.yaml").write_text(DANGER_PATCH)
    kustomization = production / "kustomization.yaml"
    text = kustomization.read_text()
    assert "newTag: 1.0.0" in text and text.rstrip().endswith("- path: hpa-patch.yaml")
    kustomization.write_text(
        text.replace("newTag: 1.0.0", "newTag: latest") + "  - path: danger-patch.yaml\n"
    )
    part = _run(tmp_path, ["k8s"])
    failed = {c.name: c for c in part.checks if c.status is Status.FAIL}
    assert {
        "manifests:k8s.host-namespaces",
        "manifests:k8s.not-privileged",
        "manifests:k8s.image-tag",
    } <= set(failed)
    patch = production / "danger-patch.yaml"
    assert failed["manifests:k8s.host-namespaces"].location.path == str(patch)
    assert failed["manifests:k8s.host-namespaces"].location.line == _line(patch, "hostNetwork")
    assert failed["manifests:k8s.not-privileged"].location.line == _line(patch, "privileged")
    image = failed["manifests:k8s.image-tag"]  # the overlay's images: entry wins over the patch and the base
    assert image.location.path == str(kustomization) and image.location.line == _line(
        kustomization, "- name:"
    )
    assert "mlgate/credit-model:latest is tagged latest" in image.why
    assert "rendered from k8s/overlays/production" in image.why
    assert part.evidence["rendered"]["k8s/overlays/production"] > 0
    assert "k8s/overlays/production/danger-patch.yaml (kustomize patch)" in part.evidence["skipped"]


def test_patch_image_latest_without_an_images_entry(tmp_path):
    shutil.copytree(GOOD, tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "production"
    (overlay / "replicas.yaml").write_text(
        (overlay / "replicas.yaml").read_text()
        + """  template:
    spec:
      containers:
        - name: model
          image: ghcr.io/acme/credit-model:latest
"""
    )
    part = _run(tmp_path, ["k8s"])
    failed = {c.name: c for c in part.checks if c.status is Status.FAIL}
    assert set(failed) == {"manifests:k8s.image-tag"}
    assert failed["manifests:k8s.image-tag"].location.path == str(overlay / "replicas.yaml")
    assert failed["manifests:k8s.image-tag"].location.line == _line(overlay / "replicas.yaml", "image:")


def test_findings_of_the_files_are_not_repeated_for_each_render(tmp_path):
    app = _broken(tmp_path, "privileged: false", "privileged: true")
    part = _run(tmp_path, ["k8s"])
    hits = [f for f in part.findings if f.rule_id == "k8s.not-privileged"]
    assert [(h.location.path, h.location.line) for h in hits] == [(str(app), _line(app, "privileged:"))]


def test_kustomization_that_cannot_be_rendered_is_an_error_naming_its_patches(tmp_path):
    """Its patches are exactly what would go unchecked, so a render failure is an error, not a warning."""
    shutil.copytree(GOOD, tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "production" / "kustomization.yaml"
    overlay.write_text(overlay.read_text() + "bogusKey: 1\n")
    part = _run(tmp_path, ["k8s"])
    errors = [c for c in part.checks if c.status is Status.ERROR]
    assert [c.name for c in errors] == ["manifests:kustomize k8s/overlays/production"]
    assert "bogusKey" in errors[0].why and "replicas.yaml" in errors[0].why
    assert "\n" not in errors[0].why
    assert part.evidence["rendered"] == {"k8s/base": 3}
    assert not [c for c in part.checks if c.status is Status.WARN]


def test_without_kubectl_every_kustomization_is_an_error_saying_so(tmp_path, monkeypatch):
    shutil.copytree(GOOD, tmp_path / "k8s")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    part = _run(tmp_path, ["k8s"])
    errors = {c.name: c for c in part.checks if c.status is Status.ERROR}
    assert set(errors) == {"manifests:kustomize k8s/base", "manifests:kustomize k8s/overlays/production"}
    assert all("kubectl not found on PATH" in c.why for c in errors.values())
    assert part.evidence["rendered"] == {}
