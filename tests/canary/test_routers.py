import pytest

from gates.core.errors import InputError
from gates.deploy.routers import (
    NGINX_PREFIX,
    GatewayRouter,
    NginxRouter,
    ReplicaRouter,
    RouterContext,
    canary_service,
    httproute_weights,
    nginx_canary_ingress,
    replica_split,
)


@pytest.mark.parametrize(
    "total,weight,stable,canary",
    [
        (4, 0, 4, 0),
        (4, 10, 3, 1),
        (4, 25, 3, 1),
        (4, 50, 2, 2),
        (4, 75, 1, 3),
        (4, 90, 1, 4),
        (4, 100, 0, 4),
        (10, 10, 9, 1),
        (10, 25, 7, 3),
        (1, 10, 1, 1),
        (2, 50, 1, 1),
        (2, 100, 0, 2),
    ],
)
def test_replica_split(total, weight, stable, canary):
    s = replica_split(total, weight)
    assert (s.stable_replicas, s.canary_replicas) == (stable, canary)


def test_replica_split_effective_weight_and_errors():
    assert replica_split(10, 25).effective_weight == 30.0
    with pytest.raises(InputError):
        replica_split(0, 10)
    with pytest.raises(InputError):
        replica_split(4, 120)


def test_replica_router_orders_changes():
    ctx = RouterContext("ns", "model", "model-canary", 4)
    changes, info = ReplicaRouter().route(ctx, 25)
    assert [c.describe() for c in changes] == [
        "scale Deployment/model-canary to 1",
        "scale Deployment/model to 3",
    ]
    changes, _ = ReplicaRouter().route(ctx, 0)
    assert [c.describe() for c in changes] == [
        "scale Deployment/model to 4",
        "scale Deployment/model-canary to 0",
    ]
    assert info["effective_weight"] == 25.0


ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "model", "namespace": "prod", "resourceVersion": "5"},
    "spec": {
        "parentRefs": [{"name": "gw"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": "model", "port": 80}],
            },
            {"backendRefs": [{"name": "other", "port": 80}]},
        ],
    },
}


def test_httproute_weights():
    body = httproute_weights(ROUTE, "model", "model-canary", 25)
    refs = body["spec"]["rules"][0]["backendRefs"]
    assert refs == [
        {"name": "model", "port": 80, "weight": 75},
        {"name": "model-canary", "port": 80, "weight": 25},
    ]
    assert body["spec"]["rules"][1] == ROUTE["spec"]["rules"][1]
    assert body["metadata"] == {"name": "model", "namespace": "prod"}
    assert ROUTE["spec"]["rules"][0]["backendRefs"] == [{"name": "model", "port": 80}]  # input untouched
    again = httproute_weights({**ROUTE, "spec": body["spec"]}, "model", "model-canary", 0)
    assert [r["weight"] for r in again["spec"]["rules"][0]["backendRefs"]] == [100, 0]


def test_httproute_errors():
    with pytest.raises(InputError, match="no rule 5"):
        httproute_weights(ROUTE, "model", "model-canary", 10, rule=5)
    with pytest.raises(InputError, match="no backendRef"):
        httproute_weights(ROUTE, "nope", "nope-canary", 10)


def test_gateway_router_change():
    ctx = RouterContext("prod", "model", "model-canary", 3, {"kind": "gateway_api", "route": "model"})
    changes, info = GatewayRouter().route(ctx, 50, ROUTE)
    assert changes[0].method == "apply" and changes[0].kind == "HTTPRoute" and info["effective_weight"] == 50
    assert GatewayRouter().canary_replicas(ctx, 10) == 3


INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "model", "namespace": "prod", "annotations": {"kubernetes.io/x": "y"}},
    "spec": {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["a"]}],
        "rules": [
            {
                "host": "a",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "model", "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ],
    },
}


def test_nginx_canary_ingress():
    body = nginx_canary_ingress(INGRESS, "model", "model-canary", 10)
    ann = body["metadata"]["annotations"]
    assert ann[NGINX_PREFIX + "canary"] == "true" and ann[NGINX_PREFIX + "canary-weight"] == "10"
    assert body["metadata"]["name"] == "model-canary"
    path = body["spec"]["rules"][0]["http"]["paths"][0]
    assert path["backend"]["service"]["name"] == "model-canary" and "tls" not in body["spec"]
    assert INGRESS["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "model"
    with pytest.raises(InputError):
        nginx_canary_ingress(INGRESS, "other", "other-canary", 10)


def test_nginx_router_cleanup():
    ctx = RouterContext("prod", "model", "model-canary", 3, {"kind": "nginx", "ingress": "model"})
    assert [c.describe() for c in NginxRouter().cleanup(ctx)] == ["delete Ingress/model-canary"]


def test_canary_service():
    svc = {
        "metadata": {"name": "model", "namespace": "prod"},
        "spec": {
            "selector": {"app": "model"},
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30001}],
        },
    }
    out = canary_service(svc)
    assert out["metadata"]["name"] == "model-canary"
    assert out["spec"]["selector"] == {"app": "model", "track": "canary"}
    assert "nodePort" not in out["spec"]["ports"][0]
