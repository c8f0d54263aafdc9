"""Blue/green through a route (``deploy.blue_green.route``): an HTTPRoute's backendRefs (Gateway API) or an
Ingress's backend services switch from one colour's Service to the other's, instead of one Service's selector.

Why: behind a gateway or an ingress controller the route is what sends users to pods; switching it in one write
(a merge patch of the route's rules and its state annotations) moves every request at once, and the colour
Services (``<service>-blue``, ``<service>-green``: the manifest's Service with the colour in its selector) let
both colours be addressed, so a switch back is the same one write the other way.

Pure functions over the objects; gates.deploy.bluegreen does the I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gates.core.errors import InputError

ROUTE_API = {"HTTPRoute": "gateway.networking.k8s.io/v1", "Ingress": "networking.k8s.io/v1"}
SERVICE_FIELDS_SET_BY_THE_CLUSTER = ("clusterIP", "clusterIPs", "healthCheckNodePort")


def colour_service(service: Mapping[str, Any], color: str, color_label: str) -> dict[str, Any]:
    """``<service>-<color>``: the manifest's Service selecting only that colour's pods (ClusterIP)."""
    meta = service.get("metadata") or {}
    spec = {k: copy.deepcopy(v) for k, v in (service.get("spec") or {}).items()}
    for key in SERVICE_FIELDS_SET_BY_THE_CLUSTER:
        spec.pop(key, None)
    spec["type"] = "ClusterIP"
    spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports") or []]
    spec["selector"] = {**(spec.get("selector") or {}), color_label: color}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{meta.get('name')}-{color}",
            **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
            "labels": {**(meta.get("labels") or {}), color_label: color},
        },
        "spec": spec,
    }


def _backend_names(route: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every place the route names a Service (mutable dicts inside ``route``): HTTPRoute backendRefs of kind
    Service (the default kind), Ingress default backend and path backends."""
    spec = route.get("spec") or {}
    if route.get("kind") == "HTTPRoute":
        return [
            ref
            for rule in spec.get("rules") or []
            for ref in rule.get("backendRefs") or []
            if ref.get("kind", "Service") == "Service" and not ref.get("group")
        ]
    if route.get("kind") == "Ingress":
        backends: list[dict[str, Any]] = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
        backends += [
            path.get("backend") or {}
            for rule in spec.get("rules") or []
            for path in (rule.get("http") or {}).get("paths") or []
        ]
        return [b["service"] for b in backends if isinstance(b.get("service"), dict)]
    raise InputError(f"deploy.blue_green.route: kind {route.get('kind')!r}: expected HTTPRoute or Ingress")


def live_colour(route: Mapping[str, Any], service: str, colors: tuple[str, ...]) -> str | None:
    """The colour whose Service the route's backends name (None: the plain Service, or no backend of it)."""
    names = {ref.get("name") for ref in _backend_names(route)}
    found = [c for c in colors if f"{service}-{c}" in names]
    if len(found) > 1:
        kind, name = route.get("kind"), (route.get("metadata") or {}).get("name")
        raise InputError(
            f"{kind} {name}: sends traffic to both {service}-{found[0]} and {service}-{found[1]}"
        )
    return found[0] if found else None


def switch_patch(
    route: Mapping[str, Any],
    service: str,
    color: str,
    colors: tuple[str, ...],
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    """The merge patch that points every backend naming ``service`` (or one of its colours) at
    ``<service>-<color>`` and records ``annotations``: one write. Other backends are left as they are."""
    switched = copy.deepcopy(dict(route))
    names = {service, *(f"{service}-{c}" for c in colors)}
    refs = [ref for ref in _backend_names(switched) if ref.get("name") in names]
    if not refs:
        kind, name = route.get("kind"), (route.get("metadata") or {}).get("name")
        raise InputError(
            f"{kind} {name}: no backend names Service {service} or its colours; expected the route that "
            f"serves it (deploy.blue_green.route)"
        )
    for ref in refs:
        ref["name"] = f"{service}-{color}"
    spec = switched.get("spec") or {}
    patch_spec = {k: spec[k] for k in ("rules", "defaultBackend") if k in spec}
    return {"metadata": {"annotations": dict(annotations)}, "spec": patch_spec}
