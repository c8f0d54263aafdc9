"""The shadow stage of ``mlgate canary`` (``canary.shadow.enabled``): before the canary takes any live request,
the candidate runs as ``<deployment>-shadow`` behind its own Service, the stable pods' tee mirrors a share of
their requests to it, and gates.deploy.shadow.run_shadow compares the two on those same requests.

Why the tee for every router: the comparison needs both answers to one request, and only the tee (on the stable
pods, examples/service/shadow.py) sees both; a gateway or NGINX mirror discards the candidate's answer. So the
stage switches the tee on in the stable pods' environment and off again afterwards: two rolling restarts of
stable, and no more. Both are needed: the service reads its tee settings at start, every stable pod must tee
for ``percent`` to mean a share of all requests (100 by default), and stable must run without the tee again
before the canary measures it or a rollback leaves it. The environment is the only switch every cluster has
(a mounted ConfigMap is reloaded late, an admin endpoint is a door into the model service).

Why the tee's previous values are kept in an annotation on the stable Deployment (``mlgate.io/tee-restore``,
written in the same patch as the tee): a run killed with the tee on (SIGKILL, a lost runner) leaves stable
teeing; the next run reads what to restore from there instead of taking the tee's values for stable's own, reuses
the tee as it is (its patch changes nothing, so no third restart), and builds the shadow candidate and the canary
from stable without the tee.

Why the candidate's pods carry only their own labels: a pod with the stable pods' labels would be selected by
the live Service and answer users before it was judged. The shadow pods are labelled
``mlgate.io/shadow-of: <deployment>`` and ``track: shadow`` only, and their Service selects exactly those.

Whatever happens (a regression, Prometheus down, an interruption), the tee is switched off and the shadow
Deployment and Service are removed before the stage returns or raises: the candidate never took live traffic,
so a failed shadow needs no rollback.
"""

from __future__ import annotations

import copy
import json
import math
from typing import TYPE_CHECKING, Any

from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.canary import Shadow
from gates.deploy.canary.config import canary_deployment, parse_duration, pod_container
from gates.deploy.canary.stop import Interrupted
from gates.deploy.sequential import SequentialSettings
from gates.deploy.shadow import ShadowLimits, candidate_url, run_shadow, tee_env

if TYPE_CHECKING:
    from gates.deploy.canary.machine import Run

SHADOW_LABEL = "mlgate.io/shadow-of"
TEE_RESTORE = "mlgate.io/tee-restore"


def shadow_name(deployment: str) -> str:
    return f"{deployment}-shadow"


def shadow_labels(deployment: str) -> dict[str, str]:
    return {SHADOW_LABEL: deployment, "track": "shadow"}


def shadow_deployment(run: Run, replicas: int) -> dict[str, Any]:
    """The candidate as ``<deployment>-shadow``: the canary's template (new image and env), the stable pods'
    labels replaced by the shadow labels so no live Service selects it."""
    assert run.stable is not None and run.state is not None
    cfg = run.cfg
    body = canary_deployment(run.stable, cfg, replicas, run.state)
    labels = shadow_labels(cfg.deployment)
    body["metadata"] = {
        "name": shadow_name(cfg.deployment),
        "namespace": cfg.namespace,
        "labels": dict(labels),
    }
    body["spec"]["selector"] = {"matchLabels": dict(labels)}
    body["spec"]["template"].setdefault("metadata", {})["labels"] = dict(labels)
    return body


def shadow_service(stable_service: dict[str, Any], deployment: str) -> dict[str, Any]:
    """The Service in front of the shadow pods: the stable Service's ports, the shadow labels as selector."""
    ports = [
        {k: v for k, v in p.items() if k != "nodePort"}
        for p in (stable_service.get("spec") or {}).get("ports") or []
    ]
    if not ports:
        name = (stable_service.get("metadata") or {}).get("name")
        raise InputError(f"Service {name}: no ports to give the shadow Service")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": shadow_name(deployment), "labels": shadow_labels(deployment)},
        "spec": {"selector": shadow_labels(deployment), "ports": ports, "type": "ClusterIP"},
    }


def tee_patch(
    container: str, wanted: dict[str, str], before: dict[str, str | None], restore: str | None = None
) -> dict[str, Any]:
    """A strategic merge patch of the stable Deployment: the container's env ``wanted`` values set, names whose
    ``before`` value is None deleted (how the tee is switched off again, leaving other variables alone); the
    annotation ``mlgate.io/tee-restore`` set to ``restore`` (switching on) or removed (None: switching off)."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in wanted.items()]
    env += [{"name": k, "$patch": "delete"} for k, v in before.items() if v is None and k not in wanted]
    return {
        "metadata": {"annotations": {TEE_RESTORE: restore}},
        "spec": {"template": {"spec": {"containers": [{"name": container, "env": env}]}}},
    }


def leftover_tee(stable: dict[str, Any]) -> dict[str, str | None] | None:
    """The environment a killed run recorded before switching the tee on (None: no tee left on)."""
    raw = ((stable.get("metadata") or {}).get("annotations") or {}).get(TEE_RESTORE)
    if raw is None:
        return None
    try:
        values = json.loads(raw)
    except ValueError:
        values = None
    if not isinstance(values, dict) or not all(v is None or isinstance(v, str) for v in values.values()):
        name = (stable.get("metadata") or {}).get("name")
        raise InputError(
            f"Deployment {name}: annotation {TEE_RESTORE} is not a JSON object of names to strings or null; "
            "remove the SHADOW_* variables and the annotation by hand"
        )
    return values


def without_tee(stable: dict[str, Any], container: str, before: dict[str, str | None]) -> dict[str, Any]:
    """The stable Deployment as it was before the tee: the names the tee sets back to ``before`` (what the
    shadow candidate and the canary are built from, even when a killed run left the tee on)."""
    out = copy.deepcopy(stable)
    target = next(c for c in out["spec"]["template"]["spec"]["containers"] if c.get("name") == container)
    env = [e for e in target.get("env") or [] if e.get("name") not in before]
    env += [{"name": k, "value": v} for k, v in before.items() if v is not None]
    target["env"] = env
    return out


def clear_leftover_tee(run: Run) -> None:
    """Switch off a tee a killed shadow stage left on stable when this run has no shadow stage (the canary must
    measure stable as it is without the tee): one rolling restart, only when the annotation says so."""
    assert run.stable is not None
    left = leftover_tee(run.stable)
    if left is None:
        return
    cfg = run.cfg
    container = pod_container(run.stable["spec"]["template"], cfg.container)["name"]
    restore = {k: v for k, v in left.items() if v is not None}
    run.kube.patch_deployment(cfg.namespace, cfg.deployment, tee_patch(container, restore, left))
    run._record("tee off", deployment=cfg.deployment, why="an interrupted shadow stage left it on")
    run.stable = without_tee(run.stable, container, left)
    run.require_ready(cfg.deployment, "tee off")


def _not_run(why: str, evidence: dict[str, Any]) -> GateResult:
    check = Check(name="verdict", status=Status.FAIL, value="not_ready", why=why)
    return GateResult(
        gate="shadow", checks=[check], evidence=evidence, summary={"verdict": "fail", "reason": why}
    )


def run_stage(run: Run, shadow: Shadow) -> GateResult:
    """Run the shadow stage to its verdict (a GateResult of gate ``shadow``); clean up whatever happens. On
    return ``run.stable`` is stable without the tee (what the canary is built from)."""
    assert run.stable is not None
    cfg, kube = run.cfg, run.kube
    duration = parse_duration(shadow.duration, "canary.shadow.duration")
    interval = parse_duration(shadow.interval, "canary.shadow.interval")
    if not 0 < interval <= duration:
        raise InputError(
            f"canary.shadow.interval {shadow.interval!r}: expected more than 0 and at most the duration"
        )
    service_name = cfg.router.get("service") or cfg.deployment
    stable_service = kube.service(cfg.namespace, service_name)
    if stable_service is None:
        raise InputError(f"Service {cfg.namespace}/{service_name} not found (canary.router.service)")
    svc = shadow_service(stable_service, cfg.deployment)
    port = int(svc["spec"]["ports"][0]["port"])
    url = candidate_url(svc["metadata"]["name"], cfg.namespace, port)
    container = pod_container(run.stable["spec"]["template"], cfg.container)
    current_env = {e.get("name"): e.get("value") for e in container.get("env") or []}
    wanted = tee_env(url, shadow.percent)
    left = leftover_tee(run.stable)
    before = {k: current_env.get(k) for k in wanted} | (left or {})
    if left is not None:
        run._record("tee left on", deployment=cfg.deployment, why="an interrupted run switched it on")
    run.stable = without_tee(run.stable, container["name"], before)
    stable_replicas = int(run.stable["spec"].get("replicas") or 1)
    replicas = max(1, math.ceil(stable_replicas * shadow.percent / 100))
    evidence = {"candidate": shadow_name(cfg.deployment), "url": url, "percent": shadow.percent}
    run._record("shadow start", deployment=shadow_name(cfg.deployment), percent=shadow.percent)
    teeing = left is not None  # the tee may be on already: switched off whatever happens
    try:
        kube.apply("Service", cfg.namespace, svc["metadata"]["name"], copy.deepcopy(svc))
        # applied, not created: a run killed before its clean-up left one behind
        kube.apply("Deployment", cfg.namespace, shadow_name(cfg.deployment), shadow_deployment(run, replicas))
        ready = run.wait_ready(shadow_name(cfg.deployment), "shadow candidate")
        if not ready.ok:
            return _not_run(f"the shadow candidate did not become ready: {ready.message}", evidence)
        teeing = True
        # one rolling restart of stable; none when a killed run left this very tee on (the patch changes nothing)
        kube.patch_deployment(
            cfg.namespace, cfg.deployment, tee_patch(container["name"], wanted, before, json.dumps(before))
        )
        run._record("tee on", deployment=cfg.deployment, url=url)
        run.require_ready(cfg.deployment, "tee on")

        def sleep(seconds: float) -> None:
            if run.stop.sleep(seconds):
                raise Interrupted(f"{run.stop.signal} during the shadow stage")

        seq = cfg.sequential
        return run_shadow(
            run.prom,
            cfg.namespace,
            cfg.deployment,
            ShadowLimits(
                shadow.max_disagreement, shadow.max_score_shift, shadow.min_effect, cfg.min_requests
            ),
            duration,
            interval,
            SequentialSettings(alpha=seq.alpha, tolerance=seq.tolerance, margin=seq.margin, scale=seq.scale),
            sleep=sleep,
            clock=run.clock,
            log=run.log,
        )
    finally:
        if teeing:  # the second (and last) rolling restart: stable as it was, annotation removed
            restore = {k: v for k, v in before.items() if v is not None}
            kube.patch_deployment(
                cfg.namespace, cfg.deployment, tee_patch(container["name"], restore, before)
            )
            run._record("tee off", deployment=cfg.deployment)
        kube.delete_deployment(cfg.namespace, shadow_name(cfg.deployment))
        kube.delete("Service", cfg.namespace, svc["metadata"]["name"])
        run._record("shadow removed", deployment=shadow_name(cfg.deployment))
        if teeing and not run.stop:  # stable restarts without the tee before the canary measures it
            run.wait_ready(cfg.deployment, "tee off")
