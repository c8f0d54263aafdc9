"""Cluster access, rollout state and rollback logic against a scripted API server (no cluster needed)."""

from __future__ import annotations

import copy
import json
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from gates.core.errors import InfraError, InputError
from gates.deploy.kube import Conflict, Kube, NotFound, Unreachable, connect
from gates.deploy.rollout import rollback, rollout_state, wait_for_rollout

DISCOVERY = {
    "/api/v1": {
        "resources": [
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
            {"name": "pods", "kind": "Pod", "namespaced": True},
            {"name": "pods/status", "kind": "Pod", "namespaced": True},
        ]
    },
    "/apis/apps/v1": {
        "resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": True},
            {"name": "replicasets", "kind": "ReplicaSet", "namespaced": True},
        ]
    },
    "/apis/autoscaling/v2beta2": {
        "resources": [
            {"name": "horizontalpodautoscalers", "kind": "HorizontalPodAutoscaler", "namespaced": True}
        ]
    },
}


class FakeServer:
    """Answers from a script: a dict path -> list of (status, body) consumed in order (the last one repeats)."""

    def __init__(self, script=None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[tuple[str, str, dict, bytes | None]] = []

    def __call__(self, method, url, headers, body, timeout):
        parts = urlsplit(url)
        self.calls.append((method, parts.path, parse_qs(parts.query), body))
        key = f"{method} {parts.path}"
        if key in self.script:
            answers = self.script[key]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if isinstance(answer, Exception):
                raise answer
            status, payload = answer
            return status, {"retry-after": "2"} if status == 429 else {}, json.dumps(payload).encode()
        if method == "GET" and parts.path in DISCOVERY:
            return 200, {}, json.dumps(DISCOVERY[parts.path]).encode()
        return 404, {}, json.dumps({"message": f"{parts.path} not found"}).encode()


def kube_with(server, **kwargs) -> tuple[Kube, list[float]]:
    sleeps: list[float] = []
    return Kube(host="https://127.0.0.1:6443", send=server, sleep=sleeps.append, **kwargs), sleeps


DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/ns/deployments/web"


def test_5xx_and_429_are_retried_with_backoff_then_succeed():
    server = FakeServer(
        {f"GET {DEPLOYMENT_PATH}": [(503, {"message": "etcd busy"}), (429, {}), (200, {"ok": 1})]}
    )
    kube, sleeps = kube_with(server)
    assert kube.get("apps/v1", "Deployment", "web", "ns") == {"ok": 1}
    assert len(sleeps) == 2 and 0.4 <= sleeps[0] <= 0.6 and sleeps[1] >= 2  # Retry-After: 2


def test_unreachable_cluster_is_an_infrastructure_error_after_bounded_retries():
    server = FakeServer({"GET /apis/apps/v1": [Unreachable("cannot reach https://127.0.0.1:6443: refused")]})
    kube, sleeps = kube_with(server, retries=4)
    with pytest.raises(InfraError, match="did not answer after 4 attempts .*refused"):
        kube.get("apps/v1", "Deployment", "web", "ns")
    assert len(sleeps) == 3 and max(sleeps) <= 8 * 1.2


def test_tls_errors_are_not_retried():
    server = FakeServer({"GET /apis/apps/v1": [Unreachable("TLS error: bad certificate", permanent=True)]})
    kube, sleeps = kube_with(server)
    with pytest.raises(InfraError, match="TLS error"):
        kube.get("apps/v1", "Deployment", "web", "ns")
    assert sleeps == []


@pytest.mark.parametrize(
    "status, error, fragment",
    [
        (401, InputError, "get deployment/web in namespace ns: the cluster rejected the credentials"),
        (
            403,
            InputError,
            (
                'forbidden \\(403\\): deployments.apps "web" is forbidden: User "ci" cannot get.*Grant the '
                "'get' permission"
            ),
        ),
        (409, Conflict, "conflict"),
        (422, InputError, "rejected as invalid \\(422\\)"),
        (500, InfraError, "answered 500 after 2 attempts"),
    ],
)
def test_api_errors_name_the_verb_and_the_object(status, error, fragment):
    message = (
        'deployments.apps "web" is forbidden: User "ci" cannot get resource "deployments"'
        if status == 403
        else "nope"
    )
    server = FakeServer({f"GET {DEPLOYMENT_PATH}": [(status, {"message": message})]})
    kube, _ = kube_with(server, retries=2)
    with pytest.raises(error, match=fragment):
        kube.request("GET", DEPLOYMENT_PATH, what="deployment/web in namespace ns")


def test_get_returns_none_for_a_missing_object_but_other_verbs_raise():
    kube, _ = kube_with(FakeServer())
    assert kube.get("apps/v1", "Deployment", "web", "ns") is None
    with pytest.raises(NotFound):
        kube.patch("apps/v1", "Deployment", "web", "ns", {"spec": {}})


def test_server_side_apply_falls_back_to_an_older_api_version_and_sends_field_manager_and_force():
    path = "/apis/autoscaling/v2beta2/namespaces/ns/horizontalpodautoscalers/web"
    server = FakeServer({f"PATCH {path}": [(200, {"apiVersion": "autoscaling/v2beta2", "kind": "X"})]})
    kube, _ = kube_with(server)
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"minReplicas": 1},
    }
    kube.apply(hpa, dry_run=True)
    method, called, query, body = server.calls[-1]
    assert (method, called) == ("PATCH", path)
    assert query == {"fieldManager": ["mlgate"], "force": ["true"], "dryRun": ["All"]}
    assert json.loads(body)["apiVersion"] == "autoscaling/v2beta2"
    with pytest.raises(InputError, match="serves no such kind in policy/v1, policy/v1beta1"):
        kube.resource("policy/v1", "PodDisruptionBudget")


def test_connect_errors_never_show_the_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(InputError, match="no Kubernetes credentials"):
        connect()
    secret = tmp_path / "config"
    secret.write_text(
        "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {token: SUPERSECRET-TOKEN}\n"
        "contexts: []\nclusters: []\n"
    )
    with pytest.raises(InputError) as caught:
        connect(secret)
    assert "SUPERSECRET" not in str(caught.value) and str(secret) in str(caught.value)
    with pytest.raises(InputError, match="file not found"):
        connect(tmp_path / "missing")


# --- rollout state (kubectl rollout status semantics) ----------------------------------------------------------


def deployment(
    generation=2,
    observed=2,
    replicas=3,
    updated=3,
    total=3,
    available=3,
    conditions=(),
    paused=False,
    revision="2",
):
    return {
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "generation": generation,
            "uid": "u1",
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "progressDeadlineSeconds": 15,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "app:2"}]},
            },
        },
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
            "conditions": list(conditions),
        },
    }


TIMED_OUT = {
    "type": "Progressing",
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "web-1" has timed out progressing.',
    "lastUpdateTime": "2024-05-01T10:00:00Z",
}


@pytest.mark.parametrize(
    "state, done, failed, fragment",
    [
        (deployment(generation=3, observed=2), False, False, "observe generation 3"),
        (deployment(updated=1), False, False, "1 of 3 updated replicas"),
        (deployment(total=4), False, False, "1 old replicas pending termination"),
        (deployment(available=2), False, False, "2 of 3 updated replicas available"),
        (deployment(), True, False, "rolled out"),
        (
            deployment(updated=1, conditions=[TIMED_OUT]),
            False,
            True,
            "exceeded its progress deadline of 15 s",
        ),
    ],
)
def test_rollout_state(state, done, failed, fragment):
    result = rollout_state(state)
    assert (result.done, result.failed) == (done, failed) and fragment in result.message


def test_a_deadline_condition_older_than_our_own_write_is_stale():
    state = deployment(total=4, conditions=[TIMED_OUT])
    assert (
        rollout_state(state, changed_at="2024-05-01T10:00:05Z").message
        == "1 old replicas pending termination"
    )
    assert rollout_state(state, changed_at="2024-05-01T09:59:00Z").failed


def test_wait_for_rollout_is_bounded_and_reports_progress():
    states = [deployment(updated=1), deployment(available=2), deployment()]
    server = FakeServer({f"GET {DEPLOYMENT_PATH}": [(200, s) for s in states]})
    kube, _ = kube_with(server)
    lines: list[str] = []
    now = [0.0]
    result = wait_for_rollout(
        kube,
        "web",
        "ns",
        timeout=30,
        progress=lines.append,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert result.ok and result.revision == 2 and len(lines) == 3
    stuck = FakeServer(
        {
            f"GET {DEPLOYMENT_PATH}": [(200, deployment(updated=1))],
            "GET /apis/apps/v1/namespaces/ns/replicasets": [(200, {"items": []})],
        }
    )
    kube, _ = kube_with(stuck)
    now = [0.0]
    result = wait_for_rollout(
        kube,
        "web",
        "ns",
        timeout=10,
        poll=1,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert not result.ok and result.reason == "timeout" and "not rolled out after 10 s" in result.message
    assert len([c for c in stuck.calls if c[1] == DEPLOYMENT_PATH]) <= 12


# --- rollback (kubectl rollout undo semantics) -----------------------------------------------------------------


def replica_set(revision: int, image: str, annotations=None):
    return {
        "metadata": {
            "name": f"web-{revision}",
            "labels": {"app": "web", "pod-template-hash": f"h{revision}"},
            "annotations": {"deployment.kubernetes.io/revision": str(revision), **(annotations or {})},
            "ownerReferences": [{"uid": "u1", "controller": True, "kind": "Deployment"}],
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            }
        },
    }


def rollback_server(current_image="app:3", paused=False, conflicts=0):
    live = deployment(revision="3", paused=paused)
    live["metadata"]["resourceVersion"] = "100"
    live["metadata"]["annotations"]["note"] = "kept?"
    live["spec"]["template"]["spec"]["containers"][0]["image"] = current_image
    sets = [
        replica_set(1, "app:1", {"kubernetes.io/change-cause": "v1"}),
        replica_set(2, "app:2"),
        replica_set(3, "app:3"),
        {
            **replica_set(9, "other:9"),
            "metadata": {**replica_set(9, "other:9")["metadata"], "ownerReferences": []},
        },
    ]
    puts = [(409, {"message": "the object has been modified"})] * conflicts + [
        (
            200,
            {
                "metadata": {
                    "managedFields": [
                        {"manager": "mlgate", "operation": "Update", "time": "2024-05-01T10:00:07Z"}
                    ]
                }
            },
        )
    ]
    return FakeServer(
        {
            f"GET {DEPLOYMENT_PATH}": [(200, live)],
            "GET /apis/apps/v1/namespaces/ns/replicasets": [(200, {"items": sets})],
            f"PUT {DEPLOYMENT_PATH}": puts,
        }
    )


def put_body(server: FakeServer) -> dict:
    return json.loads([c for c in server.calls if c[0] == "PUT"][-1][3])


def test_rollback_to_the_previous_revision_restores_its_template_without_the_hash_label():
    server = rollback_server()
    kube, _ = kube_with(server)
    result = rollback(kube, "web", "ns")
    assert (result.from_revision, result.to_revision, result.skipped) == (3, 2, False)
    assert result.changed_at == "2024-05-01T10:00:07Z"
    body = put_body(server)
    assert body["spec"]["template"] == {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "app:2"}]},
    }
    assert body["metadata"]["resourceVersion"] == "100" and "status" not in body
    # kubectl keeps only the skip-listed annotations of the Deployment and takes the ReplicaSet's others
    assert body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert "note" not in body["metadata"]["annotations"]


def test_rollback_to_a_chosen_revision_copies_its_annotations_and_sets_the_cause():
    server = rollback_server()
    kube, _ = kube_with(server)
    rollback(kube, "web", "ns", to_revision=1, cause="by hand")
    body = put_body(server)
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"
    assert body["metadata"]["annotations"]["kubernetes.io/change-cause"] == "by hand"


def test_rollback_re_reads_after_a_conflict():
    server = rollback_server(conflicts=2)
    kube, _ = kube_with(server)
    assert not rollback(kube, "web", "ns").skipped
    assert len([c for c in server.calls if c[0] == "PUT"]) == 3


def test_rollback_refusals_and_skips():
    kube, _ = kube_with(rollback_server(paused=True))
    with pytest.raises(InputError, match="is paused; resume it first"):
        rollback(kube, "web", "ns")
    kube, _ = kube_with(rollback_server())
    with pytest.raises(InputError, match="revision 9 not found \\(revisions: 1, 2, 3\\)"):
        rollback(kube, "web", "ns", to_revision=9)  # web-9 belongs to another owner
    server = rollback_server(current_image="app:2")
    kube, _ = kube_with(server)
    result = rollback(kube, "web", "ns", to_revision=2)
    assert result.skipped and "already matches revision 2" in result.message
    assert not [c for c in server.calls if c[0] == "PUT"]


def test_apply_reports_created_configured_and_unchanged():
    from gates.deploy.apply import apply_objects

    ns_path = "/api/v1/namespaces/ns"
    before = deployment()
    before["metadata"]["resourceVersion"] = "5"
    same = copy.deepcopy(before)
    server = FakeServer(
        {
            f"GET {ns_path}": [(404, {"message": "not found"})],
            f"PATCH {ns_path}": [(200, {"metadata": {"name": "ns", "resourceVersion": "1"}})],
            f"GET {DEPLOYMENT_PATH}": [(200, before)],
            f"PATCH {DEPLOYMENT_PATH}": [(200, same)],
        }
    )
    kube, _ = kube_with(server)
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {},
        },
    ]
    applied = apply_objects(kube, objects)
    assert [a.action for a in applied] == ["created", "unchanged"]
    assert applied[1].revision_before == 2 and not applied[1].template_changed
    patches = [c for c in server.calls if c[0] == "PATCH" and c[1] == DEPLOYMENT_PATH]
    assert [c[2].get("dryRun") for c in patches] == [["All"], None]  # validated first, then applied


# --- kubeconfig: malformed files are one-line errors naming the file, never its contents ------------------------

GOOD_CONFIG = (
    "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
    "clusters: [{name: c, cluster: {server: 'https://one.example:6443'}}]\n"
    "users: [{name: u, user: {token: SUPERSECRET-TOKEN}}]\n"
    "contexts: [{name: k, context: {cluster: c, user: u, namespace: team}}]\n"
)


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "apiVersion: v1\nusers:\n- name: u\n  user: {token: SUPERSECRET-TOKEN\ncontexts: []\n",
            "not valid YAML (line 5, column 9)",
        ),
        ("users: [SUPERSECRET-TOKEN: {a: b}: c]\n", "not valid YAML (line 1, column"),
        ("\tSUPERSECRET-TOKEN: x\n", "not valid YAML (line 1, column 1)"),
        (b"SUPERSECRET-TOKEN: \xff\xfe\x00\n", "not valid YAML (byte"),
        ("", "the file is empty"),
        (
            "SUPERSECRET-TOKEN\n",
            "not a kubeconfig (expected a mapping with clusters, contexts and users, found a string)",
        ),
        (
            "- SUPERSECRET-TOKEN\n",
            "not a kubeconfig (expected a mapping with clusters, contexts and users, found a list)",
        ),
        ("users: {token: SUPERSECRET-TOKEN}\n", "'users' must be a list, found a dict"),
        ("users: [SUPERSECRET-TOKEN]\n", "'users' entry 1 has no name"),
        ("users: [{name: u, user: SUPERSECRET-TOKEN}]\n", "user 'u' has no 'user' mapping"),
        (
            GOOD_CONFIG.replace("current-context: k\n", ""),
            "no current-context is set; pass --context (contexts: k)",
        ),
        (
            GOOD_CONFIG.replace("current-context: k", "current-context: other"),
            "context 'other' not found (contexts: k)",
        ),
        (GOOD_CONFIG.replace("cluster: c, ", ""), "context 'k' names no cluster"),
        (
            GOOD_CONFIG.replace("cluster: c,", "cluster: gone,"),
            "context 'k' names cluster 'gone', which is not defined",
        ),
        (
            GOOD_CONFIG.replace("user: u,", "user: nobody,"),
            "context 'k' names user 'nobody', which is not defined",
        ),
        (
            GOOD_CONFIG.replace("server: 'https://one.example:6443'", "insecure-skip-tls-verify: true"),
            "cluster 'c' has no server",
        ),
    ],
)
def test_malformed_kubeconfig_is_one_line_naming_the_file_not_its_contents(tmp_path, text, fragment):
    path = tmp_path / "config"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError) as caught:
        connect(path)
    message = str(caught.value)
    assert message == f"kubeconfig {path}: {fragment}" or message.startswith(f"kubeconfig {path}: {fragment}")
    assert "\n" not in message and "SUPERSECRET" not in message and caught.value.exit_code == 2


def test_multi_file_kubeconfig_merges_like_kubectl(tmp_path, monkeypatch):
    from gates.deploy.kube import default_namespace, kubeconfig_files, read_kubeconfig

    first = tmp_path / "first"  # no current-context: the next file that sets one decides
    first.write_text(
        "clusters: [{name: c, cluster: {server: 'https://first.example:6443'}}]\n"
        "users: [{name: u, user: {token: t1}}]\n"
    )
    second = tmp_path / "second"
    second.write_text(GOOD_CONFIG)  # defines cluster c again: the first definition wins
    third = tmp_path / "third"
    third.write_text(
        GOOD_CONFIG.replace("current-context: k", "current-context: other").replace(
            "{name: k,", "{name: other,"
        )
    )
    monkeypatch.setenv(
        "KUBECONFIG", os.pathsep.join([str(tmp_path / "missing"), str(first), str(second), str(third)])
    )
    files = kubeconfig_files()
    assert files.paths == (first, second, third) and "(from $KUBECONFIG)" in files.source
    resolved = read_kubeconfig(files)
    assert (resolved.context, resolved.namespace) == (
        "k",
        "team",
    )  # second's current-context, not the last file's
    assert read_kubeconfig(files, "other").context == "other" and default_namespace() == "team"
    kube = connect()
    assert kube.host == "https://first.example:6443" and kube.namespace == "team"
    assert connect(context="other").host == "https://first.example:6443"
    third.write_text("users: [\n")
    with pytest.raises(InputError, match=f"^kubeconfig {third}: not valid YAML \\(line 2, column 1\\)$"):
        connect()
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    with pytest.raises(InputError, match="no file at .*a:.*b$"):
        connect()


# --- a create (POST) repeated after a lost answer ----------------------------------------------------------------

COLLECTION = "/apis/apps/v1/namespaces/ns/deployments"
SENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web-canary",
        "namespace": "ns",
        "labels": {"track": "canary"},
        "annotations": {"mlgate.io/canary": '{"started": "t1"}'},
        "creationTimestamp": None,
    },
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"track": "canary"}},
        "template": {
            "metadata": {"labels": {"track": "canary"}},
            "spec": {"containers": [{"name": "c", "image": "app:2", "resources": {}}]},
        },
    },
}
EXISTS = (
    409,
    {"kind": "Status", "reason": "AlreadyExists", "message": 'deployments.apps "web-canary" already exists'},
)


def live_copy(**changes) -> dict:
    live = copy.deepcopy(SENT)
    live["metadata"].update(
        uid="u9", resourceVersion="7", creationTimestamp="2024-05-01T10:00:00Z", generation=1
    )
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = (
        "1"  # server defaults and additions
    )
    live["spec"].update(strategy={"type": "RollingUpdate"}, progressDeadlineSeconds=600)
    container = live["spec"]["template"]["spec"]["containers"][0]
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    container.update(changes)
    live["status"] = {"replicas": 0}
    return live


def create(server: FakeServer, body=SENT):
    kube, sleeps = kube_with(server)
    return kube.request(
        "POST", COLLECTION, query={"fieldManager": "mlgate"}, body=body, what="creating deployment/web-canary"
    ), sleeps


@pytest.mark.parametrize(
    "first",
    [
        Unreachable("cannot reach https://127.0.0.1:6443: read timed out"),
        (504, {"message": "timeout"}),
        (500, {"message": "etcd leader changed"}),
    ],
)
def test_a_repeated_create_that_meets_its_own_object_is_done(first):
    server = FakeServer(
        {f"POST {COLLECTION}": [first, EXISTS], f"GET {COLLECTION}/web-canary": [(200, live_copy())]}
    )
    answer, sleeps = create(server)
    assert answer["metadata"]["uid"] == "u9" and len(sleeps) == 1
    assert [c[0] for c in server.calls] == ["POST", "POST", "GET"]


def test_a_repeated_create_that_meets_another_writers_object_is_a_conflict():
    server = FakeServer(
        {
            f"POST {COLLECTION}": [Unreachable("read timed out"), EXISTS],
            f"GET {COLLECTION}/web-canary": [(200, live_copy(image="app:3"))],
        }
    )
    with pytest.raises(
        Conflict,
        match="^create creating deployment/web-canary: web-canary already exists \\(409\\) "
        "and differs from what was sent",
    ):
        create(server)


@pytest.mark.parametrize(
    "answers", [[EXISTS], [(429, {}), EXISTS]]
)  # nothing was done before: a real conflict
def test_a_create_that_meets_an_existing_object_first_time_is_a_conflict(answers):
    server = FakeServer({f"POST {COLLECTION}": answers, f"GET {COLLECTION}/web-canary": [(200, live_copy())]})
    with pytest.raises(Conflict, match="already exists"):
        create(server)
    assert "GET" not in [c[0] for c in server.calls]


def test_a_create_without_a_fixed_name_is_never_repeated():
    body = copy.deepcopy(SENT)
    body["metadata"] = {"generateName": "web-", "namespace": "ns"}
    server = FakeServer({f"POST {COLLECTION}": [Unreachable("read timed out"), (201, {"ok": 1})]})
    with pytest.raises(InfraError, match="read timed out; not repeated, as the object has no fixed name"):
        create(server, body)
    assert len(server.calls) == 1
    server = FakeServer({f"POST {COLLECTION}": [(429, {}), (201, {"ok": 1})]})  # refused, so safe to repeat
    assert create(server, body)[0] == {"ok": 1}
