"""Pod Security Standards controls, one broken copy of a clean pod per control, under baseline and restricted;
the pod templates of every workload kind and model-serving resource; wrong shapes as one-line input errors."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.readers.manifests import load_documents
from gates.security import manifests

DIGEST = "sha256:" + "9" * 64
CONTAINER = f"""name: app
      image: ghcr.io/acme/model:1.0@{DIGEST}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {{drop: [ALL]}}
      resources: {{requests: {{cpu: 1, memory: 1Gi}}, limits: {{cpu: 1, memory: 1Gi}}}}
      livenessProbe: {{httpGet: {{path: /health, port: 8080}}}}
      readinessProbe: {{httpGet: {{path: /ready, port: 8080}}}}"""
POD = f"""apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    seccompProfile: {{type: RuntimeDefault}}
  containers:
    - {CONTAINER}
  volumes:
    - name: tmp
      emptyDir: {{}}
"""


def _hits(text: str, standard: str = "restricted") -> list[tuple[str, int | None]]:
    objects = [
        manifests.K8sObject("pod.yaml", n, d) for n, d in enumerate(load_documents(text, "pod.yaml"), 1)
    ]
    return sorted((h.rule, h.line) for h in manifests.evaluate(objects, standard))


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def _edit(old: str, new: str, text: str = POD) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_the_clean_pod_passes_both_standards():
    assert _hits(POD) == [] and _hits(POD, "baseline") == []


SC = "        allowPrivilegeEscalation: false\n"
POD_SC = "    runAsNonRoot: true\n"


@pytest.mark.parametrize(
    "old, new, rule, needle, restricted_only",
    [
        (
            POD_SC,
            POD_SC + "    windowsOptions: {hostProcess: true}\n",
            "k8s.host-process",
            "hostProcess",
            False,
        ),
        ("  containers:", "  hostIPC: true\n  containers:", "k8s.host-namespaces", "hostIPC", False),
        (SC, SC + "        privileged: true\n", "k8s.not-privileged", "privileged", False),
        ("drop: [ALL]}", "drop: [ALL], add: [SYS_ADMIN]}", "k8s.added-capabilities", "SYS_ADMIN", False),
        ("drop: [ALL]}", "drop: [ALL], add: [CHOWN]}", "k8s.added-capabilities", "CHOWN", True),
        ("drop: [ALL]}", "drop: [all]}", "k8s.drop-all-capabilities", "drop:", True),
        ("      emptyDir: {}", "      hostPath: {path: /etc}", "k8s.host-path", "hostPath", False),
        ("      emptyDir: {}", "      nfs: {server: nas, path: /m}", "k8s.volume-types", "nfs", True),
        ("      emptyDir: {}", "      gitRepo: {repository: x}", "k8s.volume-types", "gitRepo", True),
        (
            "      livenessProbe",
            "      ports: [{containerPort: 80, hostPort: 80}]\n      livenessProbe",
            "k8s.host-ports",
            "hostPort",
            False,
        ),
        (POD_SC, POD_SC + "    appArmorProfile: {type: Unconfined}\n", "k8s.apparmor", "Unconfined", False),
        (
            "  name: p\n",
            "  name: p\n  annotations:\n    container.apparmor.security.beta.kubernetes.io/app: unconfined\n",
            "k8s.apparmor",
            "apparmor",
            False,
        ),
        (POD_SC, POD_SC + "    seLinuxOptions: {type: spc_t}\n", "k8s.selinux", "spc_t", False),
        (SC, SC + "        seLinuxOptions: {role: sysadm_r}\n", "k8s.selinux", "sysadm_r", False),
        (SC, SC + "        procMount: Unmasked\n", "k8s.proc-mount", "procMount", False),
        ("{type: RuntimeDefault}", "{type: Unconfined}", "k8s.seccomp", "Unconfined", False),
        (SC, SC + "        seccompProfile: {type: Unconfined}\n", "k8s.seccomp", "Unconfined", False),
        (
            "    seccompProfile: {type: RuntimeDefault}\n",
            "",
            "k8s.seccomp",
            "securityContext:\n        allow",
            True,
        ),
        (
            POD_SC,
            POD_SC + "    sysctls: [{name: kernel.msgmax, value: '1'}]\n",
            "k8s.sysctls",
            "kernel.msgmax",
            False,
        ),
        (
            "{path: /health, port: 8080}",
            "{host: 10.0.0.1, path: /health, port: 8080}",
            "k8s.probe-host",
            "10.0.0.1",
            False,
        ),
        (
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
            "k8s.no-privilege-escalation",
            "allowPrivilegeEscalation",
            True,
        ),
        ("runAsNonRoot: true", "runAsNonRoot: false", "k8s.run-as-non-root", "runAsNonRoot", True),
        (POD_SC, POD_SC + "    runAsUser: 0\n", "k8s.run-as-non-root", "runAsUser", True),
        (SC, SC + "        runAsUser: 0\n", "k8s.run-as-non-root", "runAsUser", True),
    ],
)
def test_each_control_at_its_line(old, new, rule, needle, restricted_only):
    text = _edit(old, new)
    if "\n" in needle:  # the container's securityContext when the pod sets nothing
        line = [n for n, t in enumerate(text.splitlines(), 1) if t.strip() == "securityContext:"][-1]
    else:
        line = _line(text, needle)
    assert _hits(text) == [(rule, line)]
    assert _hits(text, "baseline") == ([] if restricted_only else [(rule, line)])


def test_allowed_values_pass():
    allowed = [
        ("drop: [ALL]}", "drop: [ALL], add: [NET_BIND_SERVICE]}"),
        (POD_SC, POD_SC + "    sysctls: [{name: net.ipv4.tcp_keepalive_time, value: '60'}]\n"),
        (POD_SC, POD_SC + "    seLinuxOptions: {type: container_engine_t}\n"),
        (POD_SC, POD_SC + "    appArmorProfile: {type: Localhost, localhostProfile: k8s-model}\n"),
        (SC, SC + "        procMount: Default\n"),
        ("      emptyDir: {}", "      image: {reference: ghcr.io/acme/weights:1}"),
        ("      emptyDir: {}", "      persistentVolumeClaim: {claimName: models}"),
        (
            "    - name: tmp\n      emptyDir: {}\n",
            "    - name: tmp\n",
        ),  # no source: the API makes it emptyDir
        ("      livenessProbe", "      ports: [{containerPort: 80, hostPort: 0}]\n      livenessProbe"),
    ]
    for old, new in allowed:
        assert _hits(_edit(old, new)) == [], new


def test_init_and_ephemeral_containers_are_containers():
    text = POD.replace(
        "  containers:",
        "  initContainers:\n    - name: init\n      image: busybox:1.36\n"
        "      securityContext: {privileged: true}\n  containers:",
    )
    text += "  ephemeralContainers:\n    - name: debug\n      image: busybox:1.36\n"
    hits = manifests.evaluate([manifests.K8sObject("pod.yaml", 1, load_documents(text, "pod.yaml")[0])])
    by_subject = {(h.rule, h.subject.split(") ", 1)[1]) for h in hits}
    assert ("k8s.not-privileged", "init container init") in by_subject
    assert ("k8s.no-privilege-escalation", "ephemeral container debug") in by_subject
    assert ("k8s.liveness-probe", "init container init") not in by_subject  # no probes for init containers
    assert not [h for h in hits if "debug" in h.subject and h.rule.startswith(("k8s.resource", "k8s.image"))]
    message = next(h for h in hits if h.rule == "k8s.not-privileged")
    assert "Pod Security Standards baseline: Privileged Containers" in message.message


def test_user_namespaces_and_windows_relax_what_upstream_relaxes():
    userns = _edit(
        "  containers:", "  hostUsers: false\n  containers:", _edit("runAsNonRoot: true", "runAsUser: 0")
    )
    assert _hits(userns) == []
    unmasked = _edit(SC, SC + "        procMount: Unmasked\n", userns)
    assert [r for r, _ in _hits(unmasked)] == ["k8s.proc-mount"] and _hits(unmasked, "baseline") == []
    windows = _edit(
        "  containers:", "  os: {name: windows}\n  containers:", _edit("drop: [ALL]}", "drop: []}")
    )
    windows = _edit("    seccompProfile: {type: RuntimeDefault}\n", "", windows)
    assert _hits(windows) == []


def _wrap(kind: str, api: str, template_path: list[str]) -> str:
    pod = yaml.safe_load(POD)
    body: dict = {"metadata": {"labels": {"app": "m"}}, "spec": pod["spec"]}
    for key in reversed(template_path):
        body = {key: body}
    return yaml.safe_dump(
        {"apiVersion": api, "kind": kind, "metadata": {"name": "m"}, **body}, sort_keys=False
    )


@pytest.mark.parametrize(
    "kind, api, path",
    [
        ("Deployment", "apps/v1", ["spec", "template"]),
        ("DaemonSet", "apps/v1", ["spec", "template"]),
        ("CronJob", "batch/v1", ["spec", "jobTemplate", "spec", "template"]),
        ("Rollout", "argoproj.io/v1alpha1", ["spec", "template"]),
        ("Service", "serving.knative.dev/v1", ["spec", "template"]),
        ("PodTemplate", "v1", ["template"]),
    ],
)
def test_every_workload_kind_is_checked(kind, api, path):
    text = _wrap(kind, api, path)
    assert _hits(text) == []
    broken = text.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    assert [r for r, _ in _hits(broken)] == ["k8s.no-privilege-escalation"]


def test_kserve_and_seldon_pod_specs():
    spec = yaml.safe_load(POD)["spec"]
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "credit"},
        "spec": {
            "predictor": {**spec, "containers": [], "sklearn": {"storageUri": "s3://m", "resources": {}}},
            "transformer": spec,
        },
    }
    hits = manifests.evaluate([manifests.K8sObject("isvc.yaml", 1, isvc)])
    predictor = {h.rule for h in hits if "predictor container" in h.subject}
    assert {"k8s.no-privilege-escalation", "k8s.resource-requests", "k8s.read-only-root-fs"} <= predictor
    assert "k8s.image-tag" not in predictor  # the ServingRuntime supplies the framework image
    assert not [h for h in hits if "transformer" in h.subject]
    seldon = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "s"},
        "spec": {
            "predictors": [{"name": "default", "componentSpecs": [{"spec": {**spec, "hostNetwork": True}}]}]
        },
    }
    hits = manifests.evaluate([manifests.K8sObject("s.yaml", 1, seldon)])
    assert [(h.rule, h.subject) for h in hits] == [
        ("k8s.host-namespaces", "SeldonDeployment/s (document 1) predictor default componentSpecs[0]")
    ]


def test_a_hostpath_persistent_volume_is_a_hostpath_finding():
    text = POD + "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: models}\nspec:\n"
    text += "  capacity: {storage: 1Gi}\n  hostPath: {path: /srv/models}\n"
    assert _hits(text) == [("k8s.host-path", _line(text, "/srv/models"))]


@pytest.mark.parametrize(
    "old, new, field",
    [
        (
            "      resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}",
            "      resources: [cpu, memory]",
            "spec.containers[0].resources: expected a mapping, got a list",
        ),
        (
            (
                "      securityContext:\n        allowPrivilegeEscalation: false\n        readOnlyRootFilesystem: true\n"
                "        capabilities: {drop: [ALL]}"
            ),
            "      securityContext: restricted",
            "spec.containers[0].securityContext: expected a mapping, got a string",
        ),
        (
            "  securityContext:\n    runAsNonRoot: true\n    seccompProfile: {type: RuntimeDefault}\n",
            "  securityContext: [runAsNonRoot]\n",
            "spec.securityContext: expected a mapping, got a list",
        ),
        (
            "    - name: app\n",
            "    - oops\n    - name: app\n",
            "spec.containers[0]: expected a mapping, got a string",
        ),
        (
            "runAsNonRoot: true",
            "runAsNonRoot: 'yes'",
            "spec.securityContext.runAsNonRoot: expected true or false",
        ),
    ],
)
def test_wrong_shapes_are_one_line_input_errors(tmp_path, old, new, field):
    text = _edit(old, new)
    (tmp_path / "pod.yaml").write_text(text)
    ctx = GateContext(tmp_path, tmp_path / "r")
    with pytest.raises(InputError) as raised:
        manifests.check({"paths": ["pod.yaml"]}, ctx, {})
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'pod.yaml'}:{_line(text, new.strip().splitlines()[0])}: Pod/p")
    assert field in message and "\n" not in message


def test_json_manifests_in_a_directory_are_checked(tmp_path):
    (tmp_path / "k8s").mkdir()
    pod = yaml.safe_load(POD)
    pod["spec"]["hostPID"] = True
    (tmp_path / "k8s" / "pod.json").write_text(json.dumps(pod, indent="\t"))  # tabs: not YAML, still JSON
    (tmp_path / "k8s" / "list.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod]}, indent=2)
    )
    part = manifests.check({"paths": ["k8s"]}, GateContext(tmp_path, tmp_path / "r"), {})
    failed = {c.name: c for c in part.checks if not c.status.passed}
    assert (
        set(failed) == {"manifests:k8s.host-namespaces"}
        and failed["manifests:k8s.host-namespaces"].value == 2
    )
    (tmp_path / "k8s" / "broken.json").write_text('{"kind": "Pod",\n "spec": }')
    with pytest.raises(InputError, match=r"k8s/broken.json: line 2, column 10: invalid JSON"):
        manifests.check({"paths": ["k8s"]}, GateContext(tmp_path, tmp_path / "r"), {})


def test_standard_from_the_policy(tmp_path):
    (tmp_path / "pod.yaml").write_text(_edit("runAsNonRoot: true", "runAsNonRoot: false"))
    ctx = GateContext(tmp_path, tmp_path / "r")
    assert (
        manifests.check({"paths": ["pod.yaml"], "standard": "baseline"}, ctx, {}).summary["standard"]
        == "baseline"
    )
    restricted = manifests.check({"paths": ["pod.yaml"]}, ctx, {})
    assert restricted.summary["standard"] == "restricted" and not restricted.checks[0].status.passed
    with pytest.raises(
        InputError, match="security.manifests.standard: expected one of 'baseline', 'restricted'"
    ):
        manifests.check({"paths": ["pod.yaml"], "standard": "privileged"}, ctx, {})


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "ALL", "Unconfined", "x"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "securityContext",
                    "containers",
                    "resources",
                    "capabilities",
                    "add",
                    "drop",
                    "name",
                    "ports",
                    "hostPort",
                    "volumes",
                    "hostPath",
                    "seccompProfile",
                    "type",
                    "sysctls",
                    "livenessProbe",
                    "httpGet",
                    "host",
                    "runAsUser",
                    "runAsNonRoot",
                    "image",
                    "requests",
                    "spec",
                    "template",
                    "predictor",
                    "annotations",
                    "labels",
                    "replicas",
                    "selector",
                    "matchLabels",
                    "matchExpressions",
                    "scaleTargetRef",
                    "minReplicas",
                    "key",
                    "operator",
                    "values",
                    "predictors",
                    "componentSpecs",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


_KINDS = st.sampled_from(
    [
        "Pod",
        "Deployment",
        "InferenceService",
        "SeldonDeployment",
        "PersistentVolume",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceAccount",
    ]
)
_OBJECT = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": _KINDS, "metadata": _VALUES, "spec": _VALUES}
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_OBJECT, min_size=1, max_size=3))
def test_any_shape_gives_findings_or_a_one_line_error(objects):
    text = yaml.safe_dump_all(objects)
    try:
        _hits(text)
    except InputError as exc:
        assert str(exc).startswith("pod.yaml:") and "\n" not in str(exc)


def test_the_cli_says_exit_2_and_where_for_a_wrong_shape(tmp_path, monkeypatch, capsys):
    from gates.cli import main

    resources = "      resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}"
    text = _edit(resources, "      resources: [cpu, memory]")
    (tmp_path / "pod.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-audit", "--report-dir", "r", "security", "--manifests", "pod.yaml"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    where = f"pod.yaml:{_line(text, 'resources: [cpu')}: Pod/p (document 1)"
    assert f"{where}: spec.containers[0].resources: expected a mapping, got a list" in err
