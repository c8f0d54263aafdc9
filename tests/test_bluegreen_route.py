"""Blue/green through a route (deploy.blue_green.route): the rendered merge patches of an HTTPRoute's
backendRefs and an Ingress's backends, the colour Services, and the switch / switch back as one write each
(gates.deploy.bluegreen on an in-memory API that applies merge patches as the API server does)."""

from __future__ import annotations

import copy

import pytest

from gates.core.errors import InputError
from gates.core.settings.delivery import BlueGreen as BlueGreenSettings
from gates.deploy.bluegreen import (
    COLOR,
    COLORS,
    LIVE,
    PREVIOUS,
    SCALE_DOWN_AFTER,
    SWITCHED_BACK,
    BlueGreen,
)
from gates.deploy.bluegreen_route import colour_service, live_colour, switch_patch

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "model", "namespace": "prod", "labels": {"app": "model"}},
    "spec": {
        "type": "NodePort",
        "clusterIP": "10.0.0.7",
        "selector": {"app": "model"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}],
    },
}
ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "model", "namespace": "prod"},
    "spec": {
        "parentRefs": [{"name": "gw"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                "backendRefs": [{"name": "model", "port": 80}],
            },
            {"backendRefs": [{"name": "other", "port": 80}, {"name": "model", "port": 80, "weight": 1}]},
            {"backendRefs": [{"group": "example.io", "kind": "Bucket", "name": "model"}]},
        ],
    },
}
INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "model", "namespace": "prod"},
    "spec": {
        "defaultBackend": {"service": {"name": "model", "port": {"number": 80}}},
        "rules": [
            {
                "host": "model.example",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "model", "port": {"number": 80}}},
                        },
                        {
                            "path": "/docs",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "docs", "port": {"number": 80}}},
                        },
                    ]
                },
            }
        ],
    },
}


def merge(target, patch):
    """RFC 7386 JSON merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def test_colour_service_selects_one_colour_and_drops_what_the_cluster_sets():
    blue = colour_service(SERVICE, "blue", COLOR)
    assert blue["metadata"]["name"] == "model-blue" and blue["metadata"]["namespace"] == "prod"
    assert blue["spec"]["selector"] == {"app": "model", COLOR: "blue"}
    assert blue["spec"]["type"] == "ClusterIP" and "clusterIP" not in blue["spec"]
    assert blue["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8080}]
    assert SERVICE["spec"]["type"] == "NodePort"  # the manifest is not changed


def test_httproute_patch_switches_every_backend_of_the_service_and_nothing_else():
    patch = switch_patch(ROUTE, "model", "green", COLORS, {LIVE: "green"})
    assert patch["metadata"] == {"annotations": {LIVE: "green"}}
    rules = patch["spec"]["rules"]
    assert rules[0]["backendRefs"] == [{"name": "model-green", "port": 80}]
    assert rules[0]["matches"] == ROUTE["spec"]["rules"][0]["matches"]  # a merge patch replaces lists whole
    assert rules[1]["backendRefs"] == [
        {"name": "other", "port": 80},
        {"name": "model-green", "port": 80, "weight": 1},
    ]
    assert rules[2] == ROUTE["spec"]["rules"][2]  # not a Service backend
    switched = merge(ROUTE, patch)
    assert live_colour(switched, "model", COLORS) == "green"
    back = merge(switched, switch_patch(switched, "model", "blue", COLORS, {}))
    assert live_colour(back, "model", COLORS) == "blue"
    assert live_colour(ROUTE, "model", COLORS) is None
    assert ROUTE["spec"]["rules"][0]["backendRefs"][0]["name"] == "model"


def test_ingress_patch_switches_the_default_and_path_backends():
    patch = switch_patch(INGRESS, "model", "blue", COLORS, {})
    assert patch["spec"]["defaultBackend"]["service"] == {"name": "model-blue", "port": {"number": 80}}
    paths = patch["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["model-blue", "docs"]
    assert live_colour(merge(INGRESS, patch), "model", COLORS) == "blue"


def test_a_route_that_does_not_serve_the_service_or_serves_both_colours_is_refused():
    with pytest.raises(InputError, match="no backend names Service api"):
        switch_patch(ROUTE, "api", "blue", COLORS, {})
    both = merge(ROUTE, switch_patch(ROUTE, "model", "blue", COLORS, {}))
    both["spec"]["rules"][1]["backendRefs"][0]["name"] = "model-green"
    with pytest.raises(InputError, match="both"):
        live_colour(both, "model", COLORS)
    with pytest.raises(InputError, match="expected HTTPRoute or Ingress"):
        switch_patch({**ROUTE, "kind": "Gateway"}, "model", "blue", COLORS, {})


def test_the_policy_names_the_route():
    settings = BlueGreenSettings.model_validate({"route": {"kind": "Ingress", "name": "model"}})
    assert settings.model_dump()["route"] == {"kind": "Ingress", "name": "model"}
    with pytest.raises(ValueError):
        BlueGreenSettings.model_validate({"route": {"kind": "Gateway", "name": "model"}})


class FakeKube:
    """get / patch (merge) / apply over dicts, counting writes."""

    def __init__(self, *objects):
        self.objects = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
        self.writes: list[tuple[str, str, str]] = []

    def get(self, api_version, kind, name, namespace=None):
        return copy.deepcopy(self.objects.get((kind, name)))

    def patch(self, api_version, kind, name, namespace, patch, **_):
        self.writes.append(("patch", kind, name))
        self.objects[(kind, name)] = merge(self.objects[(kind, name)], patch)

    def apply(self, obj, **_):
        self.writes.append(("apply", obj["kind"], obj["metadata"]["name"]))
        self.objects[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)


DEPLOYMENT = {"kind": "Deployment", "metadata": {"name": "model", "namespace": "prod"}, "spec": {}}


@pytest.mark.parametrize("route", [ROUTE, INGRESS])
def test_switch_and_switch_back_are_one_write_to_the_route(route):
    colours = {
        (d["kind"], d["metadata"]["name"]): d
        for d in (
            {
                "kind": "Deployment",
                "metadata": {"name": f"model-{c}"},
                "spec": {
                    "replicas": 2,
                    "template": {"spec": {"containers": [{"name": "m", "image": f"m:{c}"}]}},
                },
                "status": {"availableReplicas": 2},
            }
            for c in COLORS
        )
    }
    kube = FakeKube(route, SERVICE)
    kube.objects.update(colours)
    settings = {"route": {"kind": route["kind"], "name": "model"}, "keep_seconds": 60}
    run = BlueGreen(kube, DEPLOYMENT, SERVICE, settings, progress=lambda _: None, clock=lambda: 0.0)
    run.switch("blue", None, "m=m:blue", back=False)
    run.switch("green", "blue", "m=m:green", back=False)
    assert kube.writes == [("patch", route["kind"], "model")] * 2  # the Service is never touched
    live = kube.objects[(route["kind"], "model")]
    assert live_colour(live, "model", COLORS) == "green"
    assert live["metadata"]["annotations"][PREVIOUS] == "blue"
    assert run.evidence["switch"]["object"] == f"{route['kind']} model"
    kube.writes.clear()
    again = BlueGreen(kube, DEPLOYMENT, SERVICE, settings, progress=lambda _: None, clock=lambda: 0.0)
    again.annotate = lambda name, annotations: None
    assert again.switch_back() == "switched_back"
    assert kube.writes == [("patch", route["kind"], "model")]
    live = kube.objects[(route["kind"], "model")]
    assert (
        live_colour(live, "model", COLORS) == "blue"
        and live["metadata"]["annotations"][SWITCHED_BACK] == "true"
    )
    assert again.switch_back() == "unchanged"


def test_a_missing_route_is_a_configuration_error():
    run = BlueGreen(
        FakeKube(SERVICE), DEPLOYMENT, SERVICE, {"route": {"kind": "HTTPRoute", "name": "nope"}}, print
    )
    with pytest.raises(InputError, match="HTTPRoute prod/nope not found"):
        run.live_state()


def test_an_interrupted_switch_back_marks_first_and_converges_when_run_again():
    kube = FakeKube(ROUTE, SERVICE)
    for c in COLORS:
        kube.objects[("Deployment", f"model-{c}")] = {
            "kind": "Deployment",
            "metadata": {"name": f"model-{c}"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "m", "image": f"m:{c}"}]}}},
            "status": {"availableReplicas": 2},
        }
    settings = {"route": {"kind": "HTTPRoute", "name": "model"}, "keep_seconds": 60}

    def run(now: float) -> BlueGreen:
        return BlueGreen(kube, DEPLOYMENT, SERVICE, settings, progress=lambda _: None, clock=lambda: now)

    run(0).switch("blue", None, "m=m:blue", back=False)
    run(0).switch("green", "blue", "m=m:green", back=False)
    patch = kube.patch

    def interrupted(api_version, kind, name, namespace, body, **kw):
        if kind == "HTTPRoute":
            raise ConnectionError("the job was cancelled")
        patch(api_version, kind, name, namespace, body, **kw)

    kube.patch = interrupted
    with pytest.raises(ConnectionError):
        run(0).switch_back()
    route = kube.objects[("HTTPRoute", "model")]
    assert live_colour(route, "model", COLORS) == "green"  # nothing moved
    green = kube.objects[("Deployment", "model-green")]
    assert green["metadata"]["annotations"][SCALE_DOWN_AFTER] == "1970-01-01T00:01:00+00:00"  # marked first
    run(120).scale_down_expired("green")  # the live colour's mark is ignored: it keeps serving
    assert kube.objects[("Deployment", "model-green")]["spec"]["replicas"] == 2
    kube.patch = patch
    assert run(120).switch_back() == "switched_back"
    assert live_colour(kube.objects[("HTTPRoute", "model")], "model", COLORS) == "blue"
    run(300).scale_down_expired("blue")  # once past its new mark, the old colour goes to zero
    assert kube.objects[("Deployment", "model-green")]["spec"]["replicas"] == 0


@pytest.mark.parametrize(("status", "switches"), [("pass", True), ("fail", False), ("error", False)])
def test_only_a_passing_judge_lets_the_switch_happen(status, switches):
    from gates.core.result import Check, Status

    settings = {"judge": {"live_url": "http://live.example"}}
    run = BlueGreen(FakeKube(SERVICE), DEPLOYMENT, SERVICE, settings, progress=lambda _: None)
    live = {"metadata": {"name": "model-blue"}, "spec": {"replicas": 2}}
    seen = []

    def judge(url, live_url):
        seen.append((url, live_url))
        return Check("judge", Status(status), "judged"), {"requests": 10}

    assert run.compare(judge, "http://new.example", "blue", live) is switches
    assert seen == [("http://new.example", "http://live.example")]
    assert run.checks[-1].why == ("judged" if switches else "judged; not switched")
    assert run.evidence["judge"] == {"requests": 10}
    first = BlueGreen(FakeKube(SERVICE), DEPLOYMENT, SERVICE, settings, progress=lambda _: None)
    assert first.compare(judge, "http://new.example", None, None) is True  # nothing live: a warning
    assert first.checks[-1].status is Status.WARN and len(seen) == 1
