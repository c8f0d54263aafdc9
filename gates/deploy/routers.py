"""Traffic routers: how a canary weight becomes a change in the cluster. Pure: each router turns a weight into a
list of :class:`Change` objects; :mod:`gates.deploy.canary` applies them.

- ``replicas`` (default, no mesh): stable and canary Deployments behind one Service whose selector matches both;
  the share of canary replicas is the share of traffic (kube-proxy spreads connections over endpoints).
  Rounding, for ``N`` = the stable Deployment's replicas before the canary and weight ``w`` percent:
  ``canary = ceil(N * w / 100)`` (at least 1 for any ``w > 0``), ``stable = N - canary`` but at least 1 while
  ``w < 100`` (so stable keeps serving and can be compared); at ``w = 100``, ``stable = 0``. The *effective*
  weight ``canary / (canary + stable)`` is what the step records; with few replicas it is coarse (N = 2 gives
  50% at any step below 100), so give the stable Deployment enough replicas for the steps you want.
- ``gateway_api``: an HTTPRoute rule's ``backendRefs`` get the stable and canary Services with weights
  ``100 - w`` and ``w`` (server-side apply of the route's rules; other rules are kept as they are).
- ``nginx``: a copy of the Ingress named ``<ingress>-canary`` pointing at the canary Service, with the
  annotations ``nginx.ingress.kubernetes.io/canary: "true"`` and ``canary-weight: "w"``.

The two weight routers need a canary Service (``<service>-canary``, the stable Service's selector plus
``track: canary``) and a stable Service that selects only stable pods.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from gates.core.errors import InputError

NGINX_PREFIX = "nginx.ingress.kubernetes.io/"
CANARY_LABEL = ("track", "canary")


@dataclass
class Change:
    """One change to apply. method: ``scale`` (Deployment replicas), ``apply`` (server-side apply of ``body``),
    ``delete``."""

    method: str
    kind: str
    name: str
    namespace: str
    body: dict[str, Any] = field(default_factory=dict)
    replicas: int | None = None

    def describe(self) -> str:
        if self.method == "scale":
            return f"scale {self.kind}/{self.name} to {self.replicas}"
        return f"{self.method} {self.kind}/{self.name}"


@dataclass(frozen=True)
class Split:
    weight: int
    stable_replicas: int
    canary_replicas: int

    @property
    def effective_weight(self) -> float:
        total = self.stable_replicas + self.canary_replicas
        return 100.0 * self.canary_replicas / total if total else 0.0


def replica_split(total: int, weight: int) -> Split:
    """Replica counts for a weight (see the module docstring for the rounding)."""
    if total < 1:
        raise InputError(f"the stable Deployment has {total} replicas; the replica router needs at least 1")
    if not 0 <= weight <= 100:
        raise InputError(f"canary weight {weight}: expected 0..100")
    if weight == 0:
        return Split(0, total, 0)
    if weight == 100:
        return Split(100, 0, total)
    canary = min(total, max(1, math.ceil(total * weight / 100 - 1e-9)))
    stable = max(1, total - canary)
    return Split(weight, stable, canary)


@dataclass
class RouterContext:
    namespace: str
    stable: str  # stable Deployment name
    canary: str  # canary Deployment name
    stable_replicas: int
    settings: dict[str, Any] = field(default_factory=dict)  # the policy's canary.router mapping


class ReplicaRouter:
    name = "replicas"

    def route(self, ctx: RouterContext, weight: int) -> tuple[list[Change], dict[str, Any]]:
        split = replica_split(ctx.stable_replicas, weight)
        changes = [
            Change("scale", "Deployment", ctx.canary, ctx.namespace, replicas=split.canary_replicas),
            Change("scale", "Deployment", ctx.stable, ctx.namespace, replicas=split.stable_replicas),
        ]
        if split.canary_replicas == 0:
            changes.reverse()  # back to stable: stable capacity comes up before the canary goes
        return changes, {
            "weight": weight,
            "effective_weight": round(split.effective_weight, 2),
            "stable_replicas": split.stable_replicas,
            "canary_replicas": split.canary_replicas,
        }

    def canary_replicas(self, ctx: RouterContext, weight: int) -> int:
        return replica_split(ctx.stable_replicas, weight).canary_replicas

    def cleanup(self, ctx: RouterContext) -> list[Change]:
        return []


class _WeightRouter:
    """Shared by the Gateway API and NGINX routers: the canary Deployment runs at full stable size."""

    def canary_replicas(self, ctx: RouterContext, weight: int) -> int:
        return ctx.stable_replicas if weight > 0 else 0

    def service_names(self, ctx: RouterContext) -> tuple[str, str]:
        stable = ctx.settings.get("service") or ctx.stable
        return stable, ctx.settings.get("canary_service") or f"{stable}-canary"


class GatewayRouter(_WeightRouter):
    name = "gateway_api"

    def route(
        self, ctx: RouterContext, weight: int, route: dict[str, Any] | None = None
    ) -> tuple[list[Change], dict[str, Any]]:
        if route is None:
            raise InputError("gateway_api router: the HTTPRoute was not read")
        stable_svc, canary_svc = self.service_names(ctx)
        body = httproute_weights(
            route, stable_svc, canary_svc, weight, ctx.settings.get("port"), int(ctx.settings.get("rule", 0))
        )
        return [Change("apply", "HTTPRoute", body["metadata"]["name"], ctx.namespace, body)], {
            "weight": weight,
            "effective_weight": float(weight),
        }

    def cleanup(self, ctx: RouterContext) -> list[Change]:
        return []


def httproute_weights(
    route: dict[str, Any],
    stable_service: str,
    canary_service: str,
    weight: int,
    port: int | None = None,
    rule: int = 0,
) -> dict[str, Any]:
    """The apply body for an HTTPRoute whose rule ``rule`` sends ``weight`` percent to the canary Service."""
    rules = copy.deepcopy((route.get("spec") or {}).get("rules") or [])
    if not 0 <= rule < len(rules):
        raise InputError(
            f"HTTPRoute {route.get('metadata', {}).get('name')}: has no rule {rule} ({len(rules)} rule(s))"
        )
    refs = rules[rule].get("backendRefs") or []
    template = next((r for r in refs if r.get("name") == stable_service), None)
    if template is None and port is None:
        raise InputError(
            f"HTTPRoute rule {rule} has no backendRef to {stable_service!r}; set canary.router.port"
        )
    base = {k: v for k, v in (template or {}).items() if k not in ("name", "weight")}
    if port is not None:
        base["port"] = int(port)
    others = [r for r in refs if r.get("name") not in (stable_service, canary_service)]
    rules[rule]["backendRefs"] = others + [
        {**base, "name": stable_service, "weight": 100 - weight},
        {**base, "name": canary_service, "weight": weight},
    ]
    meta = route.get("metadata") or {}
    return {
        "apiVersion": route.get("apiVersion", "gateway.networking.k8s.io/v1"),
        "kind": "HTTPRoute",
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
        "spec": {"rules": rules},
    }


class NginxRouter(_WeightRouter):
    name = "nginx"

    def route(
        self, ctx: RouterContext, weight: int, ingress: dict[str, Any] | None = None
    ) -> tuple[list[Change], dict[str, Any]]:
        if ingress is None:
            raise InputError("nginx router: the Ingress was not read")
        stable_svc, canary_svc = self.service_names(ctx)
        body = nginx_canary_ingress(ingress, stable_svc, canary_svc, weight)
        return [Change("apply", "Ingress", body["metadata"]["name"], ctx.namespace, body)], {
            "weight": weight,
            "effective_weight": float(weight),
        }

    def cleanup(self, ctx: RouterContext) -> list[Change]:
        name = f"{ctx.settings.get('ingress')}-canary"
        return [Change("delete", "Ingress", name, ctx.namespace)]


def nginx_canary_ingress(
    ingress: dict[str, Any], stable_service: str, canary_service: str, weight: int
) -> dict[str, Any]:
    """A canary Ingress for ingress-nginx: same hosts and paths, canary Service, canary-weight annotation."""
    meta = ingress.get("metadata") or {}
    spec = copy.deepcopy(ingress.get("spec") or {})
    swapped = 0
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name") == stable_service:
                service["name"] = canary_service
                swapped += 1
    if not swapped:
        raise InputError(f"Ingress {meta.get('name')}: no path routes to Service {stable_service!r}")
    spec.pop("tls", None)  # the main Ingress terminates TLS; ingress-nginx applies it to canaries too
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(NGINX_PREFIX + "canary")
    }
    annotations.update({NGINX_PREFIX + "canary": "true", NGINX_PREFIX + "canary-weight": str(int(weight))})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"{meta.get('name')}-canary",
            "namespace": meta.get("namespace"),
            "labels": {**(meta.get("labels") or {}), CANARY_LABEL[0]: CANARY_LABEL[1]},
            "annotations": annotations,
        },
        "spec": spec,
    }


def canary_service(service: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The canary Service derived from the stable one: same ports, selector plus ``track: canary``."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports") or []]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name or f"{meta.get('name')}-canary",
            "namespace": meta.get("namespace"),
            "labels": {**(meta.get("labels") or {}), CANARY_LABEL[0]: CANARY_LABEL[1]},
        },
        "spec": {
            "selector": {**(spec.get("selector") or {}), CANARY_LABEL[0]: CANARY_LABEL[1]},
            "ports": ports,
            "type": "ClusterIP",
        },
    }


ROUTERS = {"replicas": ReplicaRouter, "gateway_api": GatewayRouter, "nginx": NginxRouter}


def make_router(kind: str) -> Any:
    if kind not in ROUTERS:
        raise InputError(f"canary.router.kind {kind!r}: expected one of {', '.join(ROUTERS)}")
    return ROUTERS[kind]()
