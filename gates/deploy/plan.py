"""What one `mlgate deploy` applies: the manifests (an environment's overlay or explicit paths), images,
namespace and limits, from the policy's `deploy` section with the environment's settings laid over it; and the
objects `kubectl kustomize` renders from them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.settings.delivery import DeploySettings, Environment
from gates.deploy.render import Rendered, render


def plan_deploy(section: DeploySettings | Mapping[str, Any], ctx: GateContext) -> dict[str, Any]:
    """Which manifests, images, namespace and limits this deploy uses (environment settings applied)."""
    deploy = DeploySettings.of(section)
    environment = deploy.environment
    environments = deploy.environments or {}
    settings = environments.get(environment) if environment else None
    settings = settings or Environment()
    if environment and environments and environment not in environments:
        raise InputError(
            f"{ctx.source}: deploy.environments has no {environment!r} "
            f"(known: {', '.join(sorted(environments))})"
        )
    if deploy.paths:
        paths = [ctx.path(p, what="manifests") for p in deploy.paths]
    elif environment:
        # MANIFESTS is relative to the policy's folder when the policy names it, else ./k8s
        root = deploy.manifests or str(Path.cwd() / "k8s")
        default = Path(root) / "overlays" / environment
        paths = [ctx.path(settings.path or str(default), what=f"overlay of environment {environment!r}")]
    else:
        raise InputError(
            "no manifests to deploy: give --environment (overlay MANIFESTS/overlays/ENV) or --manifests"
        )
    return {
        "environment": environment,
        "paths": paths,
        "images": {**(deploy.images or {}), **(settings.images or {})},
        "namespace": deploy.namespace or settings.namespace,
        "timeout": deploy.timeout_seconds or settings.timeout_seconds,
        "rollback": deploy.rollback_on_failure,
        "policy_check": deploy.policy_check,
        "dry_run": deploy.dry_run,
    }


def render_plan(plan: dict[str, Any]) -> Rendered:
    """`kubectl kustomize` over the plan's folders and files, images and namespace laid on top by kustomize."""
    rendered = render(plan["paths"], plan["images"], plan["namespace"])
    if not rendered.objects:
        raise InputError(f"{', '.join(map(str, plan['paths']))}: no objects to deploy")
    return rendered
