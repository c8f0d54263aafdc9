"""What one `mlgate deploy` applies: the manifests (an environment's overlay or explicit paths), images,
namespace and limits, from the policy's `deploy` section with the environment's settings laid over it; and the
objects `kubectl kustomize` renders from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.deploy.render import Rendered, render


def plan_deploy(section: dict[str, Any], ctx: GateContext) -> dict[str, Any]:
    """Which manifests, images, namespace and limits this deploy uses (environment settings applied)."""
    environment = section.get("environment")
    environments = section.get("environments") or {}
    settings = dict(environments.get(environment) or {}) if environment else {}
    if environment and environments and environment not in environments:
        raise InputError(
            f"{ctx.source}: deploy.environments has no {environment!r} "
            f"(known: {', '.join(sorted(environments))})"
        )
    if section.get("paths"):
        paths = [ctx.path(p, what="manifests") for p in section["paths"]]
    elif environment:
        # MANIFESTS is relative to the policy's folder when the policy names it, else ./k8s
        root = section["manifests"] if section.get("manifests") else str(Path.cwd() / "k8s")
        default = Path(root) / "overlays" / environment
        paths = [
            ctx.path(settings.get("path") or str(default), what=f"overlay of environment {environment!r}")
        ]
    else:
        raise InputError(
            "no manifests to deploy: give --environment (overlay MANIFESTS/overlays/ENV) or --manifests"
        )
    return {
        "environment": environment,
        "paths": paths,
        "images": {**(section.get("images") or {}), **(settings.get("images") or {})},
        "namespace": section.get("namespace") or settings.get("namespace"),
        "timeout": section.get("timeout_seconds") or settings.get("timeout_seconds"),
        "rollback": section.get("rollback_on_failure", True),
        "policy_check": section.get("policy_check", True),
        "dry_run": bool(section.get("dry_run")),
    }


def render_plan(plan: dict[str, Any]) -> Rendered:
    """`kubectl kustomize` over the plan's folders and files, images and namespace laid on top by kustomize."""
    rendered = render(plan["paths"], plan["images"], plan["namespace"])
    if not rendered.objects:
        raise InputError(f"{', '.join(map(str, plan['paths']))}: no objects to deploy")
    return rendered
