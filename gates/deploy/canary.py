"""The canary loop: for each step, set the traffic weight, wait the interval, analyse, judge; then promote or roll
back. The state lives in annotations on the canary Deployment (gates.deploy.canary_state), written before every
change, so an interrupted run (runner killed, SIGTERM) can be resumed or converged by running the same command.

Safety rules:
- promotion needs every step to pass its analysis; a Prometheus that cannot be reached is an error, never a pass;
  after ``error_limit`` analyses in a row fail to reach it the canary is rolled back (exit 3);
- a change the cluster rejects stops the run (exit 2 or 3) before anything is promoted;
- SIGTERM (or SIGINT) sets a flag that the waits check every 0.2 s: the run records the state and exits, leaving
  the traffic at the weight of the recorded step.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.errors import InfraError, InputError
from gates.core.result import Check, GateResult, Status
from gates.deploy.canary_state import CanaryState, Limits, next_move, plan_run, template_hash
from gates.deploy.evidence import Counts, Histogram, histogram_quantile
from gates.deploy.judges import (
    CompareSettings,
    JudgeVerdict,
    Observation,
    combine,
    compare_judge,
    threshold_judge,
)
from gates.deploy.prometheus import NoData, PrometheusClient
from gates.deploy.queries import (
    DEFAULT_METRICS,
    DEFAULT_NAMES,
    DEFAULT_SELECTOR,
    MetricSpec,
    Target,
    metric_specs,
    render,
)
from gates.deploy.routers import Change, RouterContext, canary_service, make_router

TRACK_LABEL = "track"


class Stop:
    """A stop flag set by SIGTERM / SIGINT; waits poll it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.event.is_set()

    def set(self, name: str = "stop") -> None:
        self.signal = name
        self.event.set()

    def install(self) -> Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(
                    sig, lambda num, frame: self.set(signal.Signals(num).name)
                )
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the stop flag cut it short."""
        return self.event.wait(max(0.0, seconds))


class Interrupted(Exception):
    pass


def parse_duration(value: Any, what: str) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * units[unit]
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{what} {value!r}: expected seconds or a duration such as 30s, 2m") from None


# -- the cluster ------------------------------------------------------------------------------------------------
API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "Ingress": "networking.k8s.io/v1",
    "HTTPRoute": "gateway.networking.k8s.io/v1",
}
FIELD_MANAGER = "mlgate-canary"


class Cluster:
    """The few cluster operations the canary needs, on :class:`gates.deploy.kube.Kube` (the delivery commands'
    client: retries, discovery, one-line errors -- a rejection is InputError, exit 2; an unreachable API server
    is InfraError, exit 3). Rollout waits and the stable Deployment's undo come from :mod:`gates.deploy.rollout`."""

    def __init__(self, kube: Any):
        self.kube = kube

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Cluster:
        from gates.deploy.kube import connect

        return cls(connect(kubeconfig, context))

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get("apps/v1", "Deployment", name, namespace)

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> None:
        resource = self.kube.resource("apps/v1", "Deployment")
        self.kube.request(
            "POST",
            self.kube.object_path(resource, None, namespace),
            query={"fieldManager": FIELD_MANAGER},
            body=body,
            what=f"creating deployment/{body['metadata']['name']}",
        )

    def replace_deployment(self, namespace: str, body: dict[str, Any]) -> None:
        self.kube.put({"apiVersion": "apps/v1", "kind": "Deployment", **body}, field_manager=FIELD_MANAGER)

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """A strategic merge patch (containers and env merge by name, as kubectl patch does)."""
        from gates.deploy.kube import STRATEGIC_PATCH

        self.kube.patch(
            "apps/v1",
            "Deployment",
            name,
            namespace,
            patch,
            content_type=STRATEGIC_PATCH,
            field_manager=FIELD_MANAGER,
        )

    def delete_deployment(self, namespace: str, name: str) -> None:
        self.kube.delete("apps/v1", "Deployment", name, namespace)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.patch_deployment(namespace, name, {"spec": {"replicas": int(replicas)}})

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get("v1", "Service", name, namespace)

    def autoscaler_for(self, namespace: str, deployment: str) -> str | None:
        """The HorizontalPodAutoscaler that scales this Deployment, if any (autoscaling/v1: served everywhere)."""
        for hpa in self.kube.list("autoscaling/v1", "HorizontalPodAutoscaler", namespace):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
                return str(hpa["metadata"]["name"])
        return None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(API_VERSIONS[kind], kind, name, namespace)

    def apply(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        """Server-side apply, field manager ``mlgate-canary`` (forced: the canary owns the weights)."""
        obj = {"apiVersion": API_VERSIONS[kind], "kind": kind, **body}
        obj.setdefault("metadata", {}).setdefault("namespace", namespace)
        obj["metadata"].setdefault("name", name)
        self.kube.apply(obj, field_manager=FIELD_MANAGER, force=True)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.kube.delete(API_VERSIONS[kind], kind, name, namespace)

    def wait(
        self,
        name: str,
        namespace: str,
        timeout: float,
        sleep: Callable[[float], None],
        progress: Callable[[str], None],
        changed_at: str | None = None,
    ) -> Any:
        """``kubectl rollout status`` semantics (gates.deploy.rollout.wait_for_rollout), bounded by ``timeout``;
        ``changed_at``: a progress-deadline condition from before that write is stale (after an undo)."""
        from gates.deploy.rollout import wait_for_rollout

        return wait_for_rollout(
            self.kube,
            name,
            namespace,
            timeout=timeout,
            poll=0.5,
            sleep=sleep,
            progress=progress,
            heartbeat=15.0,
            changed_at=changed_at,
        )

    def undo(self, name: str, namespace: str, cause: str) -> Any:
        """``kubectl rollout undo``: the stable Deployment back to its previous revision's template."""
        from gates.deploy.rollout import rollback

        return rollback(self.kube, name, namespace, cause=cause)


# -- settings ---------------------------------------------------------------------------------------------------
@dataclass
class CanaryConfig:
    namespace: str
    deployment: str
    image: str
    container: str | None
    env: dict[str, str]
    canary_env: dict[str, str]
    steps: list[int]
    interval: float
    rollout_timeout: float
    router: dict[str, Any]
    prometheus: dict[str, Any]
    window: str
    lookback: str  # growing: counts since the canary started; window: the analysis window only
    resolution: float
    confidence: float
    selector: str
    names: dict[str, str]
    metrics: list[MetricSpec]
    judges: list[str]
    failure_limit: int
    inconclusive_limit: int
    on_inconclusive_limit: str
    error_limit: int
    no_data: str
    min_requests: float
    compare: CompareSettings
    restart: bool

    @property
    def canary_name(self) -> str:
        return f"{self.deployment}-canary"

    @property
    def limits(self) -> Limits:
        return Limits(
            self.failure_limit, self.inconclusive_limit, self.error_limit, self.on_inconclusive_limit
        )

    @classmethod
    def from_section(cls, s: dict[str, Any]) -> CanaryConfig:
        for key in ("deployment", "image"):
            if not s.get(key):
                raise InputError(f"canary.{key} is required (policy or --{key})")
        analysis = s.get("analysis") or {}
        steps = [int(x) for x in s.get("steps") or [10, 25, 50, 100]]
        if any(not 0 < x <= 100 for x in steps) or steps != sorted(set(steps)):
            raise InputError(f"canary.steps {steps}: expected increasing percentages in 1..100")
        compare = analysis.get("compare") or {}
        no_data = analysis.get("no_data", "fail")
        window = str(analysis.get("window", "1m"))
        confidence = float(analysis.get("confidence", compare.get("confidence", 0.98)))
        if analysis.get("lookback", "growing") not in ("growing", "window"):
            raise InputError(
                f"canary.analysis.lookback {analysis.get('lookback')!r}: expected growing or window"
            )
        return cls(
            namespace=s.get("namespace", "default"),
            deployment=s["deployment"],
            image=s["image"],
            container=s.get("container"),
            env={k: str(v) for k, v in (s.get("env") or {}).items()},
            canary_env={k: str(v) for k, v in (s.get("canary_env") or {}).items()},
            steps=steps,
            interval=parse_duration(s.get("interval", "60s"), "canary.interval"),
            rollout_timeout=parse_duration(s.get("rollout_timeout", "300s"), "canary.rollout_timeout"),
            router=dict(s.get("router") or {"kind": "replicas"}),
            prometheus=dict(s.get("prometheus") or {}),
            window=window,
            lookback=analysis.get("lookback", "growing"),
            resolution=parse_duration(analysis.get("resolution", window), "canary.analysis.resolution"),
            confidence=confidence,
            selector=analysis.get("selector", DEFAULT_SELECTOR),
            names={**DEFAULT_NAMES, **(analysis.get("metric_names") or {})},
            metrics=metric_specs(analysis.get("metrics") or DEFAULT_METRICS),
            judges=list(analysis.get("judges") or ["threshold", "compare"]),
            failure_limit=int(analysis.get("failure_limit", 1)),
            inconclusive_limit=int(analysis.get("inconclusive_limit", 3)),
            on_inconclusive_limit=analysis.get("on_inconclusive_limit", "hold"),
            error_limit=int(analysis.get("error_limit", 2)),
            no_data=no_data,
            min_requests=float(analysis.get("min_requests", 20)),
            compare=CompareSettings(
                confidence=float(compare.get("confidence", confidence)),
                tolerance=compare.get("tolerance", 0.25),
                margin=float(compare.get("margin", 1.0)),
                effect=compare.get("effect", "hodges_lehmann"),
                pass_score=compare.get("pass_score", 95.0),
                marginal_score=compare.get("marginal_score", 75.0),
                min_points=int(compare.get("min_points", 50)),
                no_data=no_data,
            ),
            restart=bool(s.get("restart", False)),
        )


# -- deriving the canary ----------------------------------------------------------------------------------------
def _container(template: dict[str, Any], name: str | None) -> dict[str, Any]:
    containers = template.get("spec", {}).get("containers") or []
    if not containers:
        raise InputError("the stable Deployment's pod template has no containers")
    if name is None:
        return containers[0]
    for c in containers:
        if c.get("name") == name:
            return c
    raise InputError(
        f"canary.container {name!r}: not in the pod template "
        f"({', '.join(c.get('name', '?') for c in containers)})"
    )


def _set_env(container: dict[str, Any], values: dict[str, str]) -> None:
    env = [e for e in container.get("env") or [] if e.get("name") not in values]
    env.extend({"name": k, "value": v} for k, v in values.items())
    container["env"] = env


def promoted_template(stable_template: dict[str, Any], cfg: CanaryConfig) -> dict[str, Any]:
    """The stable pod template with the new image and ``env`` (what the stable Deployment runs after promotion)."""
    template = copy.deepcopy(stable_template)
    container = _container(template, cfg.container)
    container["image"] = cfg.image
    if cfg.env:
        _set_env(container, cfg.env)
    return template


def canary_deployment(
    stable: dict[str, Any], cfg: CanaryConfig, replicas: int, state: CanaryState
) -> dict[str, Any]:
    """The canary Deployment: the stable one's template with the new image, ``env`` + ``canary_env`` and the label
    ``track: canary`` (on the selector too, so stable and canary ReplicaSets never claim each other's pods)."""
    template = promoted_template(stable["spec"]["template"], cfg)
    if cfg.canary_env:
        _set_env(_container(template, cfg.container), cfg.canary_env)
    labels = {**(template.get("metadata", {}).get("labels") or {}), TRACK_LABEL: "canary"}
    template.setdefault("metadata", {})["labels"] = labels
    template["metadata"].pop("annotations", None) if not template["metadata"].get("annotations") else None
    selector = copy.deepcopy(stable["spec"].get("selector") or {})
    selector.setdefault("matchLabels", {})[TRACK_LABEL] = "canary"
    meta = stable["metadata"]
    spec = {
        k: copy.deepcopy(v)
        for k, v in stable["spec"].items()
        if k in ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit", "strategy")
    }
    spec.update(replicas=replicas, selector=selector, template=template)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": cfg.canary_name,
            "namespace": meta.get("namespace"),
            "labels": {**(meta.get("labels") or {}), TRACK_LABEL: "canary"},
            "annotations": state.annotations(),
        },
        "spec": spec,
    }


def target_of(cfg: CanaryConfig) -> str:
    return template_hash(
        {"image": cfg.image, "container": cfg.container, "env": cfg.env, "canary_env": cfg.canary_env}
    )


def stable_runs_target(stable: dict[str, Any], cfg: CanaryConfig) -> bool:
    container = _container(stable["spec"]["template"], cfg.container)
    env = {e.get("name"): e.get("value") for e in container.get("env") or []}
    return container.get("image") == cfg.image and all(env.get(k) == v for k, v in cfg.env.items())


# -- the run ----------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One `mlgate canary` run: configuration, clients, and the evidence it collects."""

    cfg: CanaryConfig
    kube: Cluster
    prom: PrometheusClient
    stop: Stop = field(default_factory=Stop)
    clock: Callable[[], float] = time.time
    log: Callable[[str], None] = print
    analyses: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    state: CanaryState | None = None
    stable: dict[str, Any] | None = None
    router: Any = None
    autoscaler: str | None = None  # an HPA on the stable Deployment (replica router only)
    exit_hint: int | None = None

    # .. cluster helpers
    def _record(self, action: str, **details: Any) -> None:
        self.actions.append({"action": action, "at": round(self.clock(), 3), **details})
        self.log(f"canary: {action} " + " ".join(f"{k}={v}" for k, v in details.items()))

    def save_state(self) -> None:
        assert self.state is not None
        self.state.updated = self.clock()
        self.kube.patch_deployment(
            self.cfg.namespace, self.cfg.canary_name, {"metadata": {"annotations": self.state.annotations()}}
        )

    def router_ctx(self) -> RouterContext:
        assert self.state is not None
        return RouterContext(
            self.cfg.namespace,
            self.cfg.deployment,
            self.cfg.canary_name,
            self.state.stable_replicas,
            self.cfg.router,
        )

    def apply_changes(self, changes: list[Change]) -> None:
        for change in changes:
            if change.method == "scale":
                self.kube.scale(change.namespace, change.name, int(change.replicas or 0))
            elif change.method == "apply":
                self.kube.apply(change.kind, change.namespace, change.name, change.body)
            elif change.method == "delete":
                self.kube.delete(change.kind, change.namespace, change.name)
            self._record("change", what=change.describe())

    def ensure_canary_service(self) -> None:
        """The weight routers send the canary's share to ``<service>-canary`` (applied, so idempotent)."""
        cfg = self.cfg
        if cfg.router.get("kind", "replicas") == "replicas":
            return
        svc_name = cfg.router.get("service") or cfg.deployment
        svc = self.kube.service(cfg.namespace, svc_name)
        if svc is None:
            raise InputError(f"Service {cfg.namespace}/{svc_name} not found (canary.router.service)")
        body = canary_service(svc, cfg.router.get("canary_service"))
        self.kube.apply("Service", cfg.namespace, body["metadata"]["name"], body)

    def measured_split(self) -> dict[str, Any]:
        """The replica split as the cluster has it now (an autoscaler may have moved the stable side)."""
        counts = {}
        for track, name in (("stable", self.cfg.deployment), ("canary", self.cfg.canary_name)):
            dep = self.kube.deployment(self.cfg.namespace, name) or {}
            counts[track] = int((dep.get("spec") or {}).get("replicas") or 0)
        total = counts["stable"] + counts["canary"]
        return {
            "stable_replicas": counts["stable"],
            "canary_replicas": counts["canary"],
            "effective_weight": round(100.0 * counts["canary"] / total, 2) if total else 0.0,
            "autoscaler": self.autoscaler,
        }

    def set_weight(self, weight: int) -> dict[str, Any]:
        ctx = self.router_ctx()
        kind = self.cfg.router.get("kind", "replicas")
        if kind == "replicas":
            changes, info = self.router.route(ctx, weight)
        else:
            # weight routers: canary capacity first, then the route
            self.kube.scale(
                self.cfg.namespace, self.cfg.canary_name, self.router.canary_replicas(ctx, weight)
            )
            obj_kind, name = self._route_object()
            current = self.kube.get(obj_kind, self.cfg.namespace, name)
            if current is None:
                raise InputError(f"{obj_kind} {self.cfg.namespace}/{name} not found")
            changes, info = self.router.route(ctx, weight, current)
        self.apply_changes(changes)
        return info

    def _route_object(self) -> tuple[str, str]:
        """The kind and name of the object a weight router edits (an HTTPRoute or an Ingress)."""
        kind = self.cfg.router.get("kind", "replicas")
        obj_kind, name = (
            ("HTTPRoute", self.cfg.router.get("route"))
            if kind == "gateway_api"
            else ("Ingress", self.cfg.router.get("ingress"))
        )
        if not name:
            raise InputError(
                f"canary.router: kind {kind} needs {'route' if kind == 'gateway_api' else 'ingress'}"
            )
        return obj_kind, name

    def _sleep(self, seconds: float) -> None:
        if self.stop.sleep(seconds):
            raise Interrupted(f"{self.stop.signal} while waiting for a rollout")

    def wait_ready(self, name: str, what: str, changed_at: str | None = None) -> Any:
        """Wait (bounded by rollout_timeout, stop-aware) until a Deployment is rolled out (kubectl rollout status
        semantics); returns the RolloutResult (``ok`` False on a missed deadline or the timeout)."""
        result = self.kube.wait(
            name,
            self.cfg.namespace,
            self.cfg.rollout_timeout,
            self._sleep,
            lambda line: self.log(f"canary: {what}: {line}"),
            changed_at,
        )
        if not result.ok and result.reason == "missing":
            raise InfraError(f"{what}: {result.message}")
        return result

    def require_ready(self, name: str, what: str, changed_at: str | None = None) -> None:
        result = self.wait_ready(name, what, changed_at)
        if not result.ok:
            raise InfraError(
                f"{what}: {result.message}" + (f" ({'; '.join(result.problems)})" if result.problems else "")
            )

    # .. analysis
    def lookback(self, end: float) -> float:
        """Seconds the counted metrics cover: since the canary started (growing) or the analysis window."""
        window_s = parse_duration(self.cfg.window, "canary.analysis.window")
        if self.cfg.lookback == "growing" and self.state is not None:
            return max(window_s, math.ceil(end - self.state.started))
        return window_s

    def measure(
        self, weight_info: dict[str, Any]
    ) -> tuple[list[Observation], list[dict[str, Any]], list[str]]:
        """Query every metric for both tracks, ending now. InfraError propagates."""
        cfg = self.cfg
        end = self.clock()
        lookback_s = self.lookback(end)
        counted = Target(cfg.namespace, cfg.deployment, f"{int(lookback_s)}s", cfg.selector, cfg.names)
        target = Target(cfg.namespace, cfg.deployment, cfg.window, cfg.selector, cfg.names)
        points_target = Target(
            cfg.namespace, cfg.deployment, _promql_duration(cfg.resolution), cfg.selector, cfg.names
        )
        window_s = parse_duration(cfg.window, "canary.analysis.window")
        records: list[dict[str, Any]] = []
        problems: list[str] = []
        # with a growing lookback stable's earlier traffic still counts at 100 %; a sliding window has none
        stable_serves = weight_info.get("effective_weight", 0) < 100 or cfg.lookback == "growing"

        def instant(metric: str, side: str, query: str) -> float | None:
            try:
                value = self.prom.value(query, at=end)
                records.append(
                    {"metric": metric, "side": side, "kind": "instant", "query": query, "value": value}
                )
                return value
            except NoData as exc:
                records.append(
                    {
                        "metric": metric,
                        "side": side,
                        "kind": "instant",
                        "query": query,
                        "value": None,
                        "no_data": exc.why,
                    }
                )
                return None

        def histogram(query: str) -> Histogram | None:
            buckets: dict[float, float] = {}
            for series in self.prom.query(query, at=end):
                le = series.labels.get("le")
                if le is None or not math.isfinite(series.value):
                    continue
                try:
                    bound = math.inf if le in ("+Inf", "Inf", "inf") else float(le)
                except ValueError:
                    continue
                buckets[bound] = buckets.get(bound, 0.0) + series.value
            if not buckets:
                return None
            if len(buckets) < 2 or not math.isinf(max(buckets)):
                raise InputError(f"bucket query must give cumulative counts by le, +Inf included: {query}")
            return Histogram.from_buckets(buckets)

        # traffic first: too little traffic is reported as such (inconclusive, never a pass or a fail)
        requests_query = "sum(increase({requests}{{selector}}[{window}]))"
        traffic: dict[str, float | None] = {}
        for side in ("canary", "stable"):
            if side == "stable" and not stable_serves:
                continue
            seen = traffic[side] = instant("requests", side, render(requests_query, counted, side))
            if seen is None:
                problems.append(
                    f"no requests counted on {side} in {int(lookback_s)}s (the requests query "
                    f"returned no samples)"
                )
            elif seen < cfg.min_requests:
                problems.append(
                    f"too little traffic on {side}: {seen:.0f} requests in {int(lookback_s)}s "
                    f"(min_requests {cfg.min_requests:g})"
                )
        stalled = ""
        if cfg.lookback == "growing" and traffic.get("canary"):
            # the growing lookback still counts earlier requests when the canary's metrics stop arriving (a lost
            # scrape, a stuck exporter): the last window must have fresh ones, or this step has no evidence
            fresh = instant("requests", "canary", render(requests_query, target, "canary"))
            if not fresh:
                stalled = f"no new canary requests in the last {cfg.window} (its metrics stopped arriving?)"
                problems.append(stalled)
        observations: list[Observation] = []
        if not stable_serves:
            records.append(
                {
                    "metric": "-",
                    "side": "-",
                    "kind": "note",
                    "query": "",
                    "value": None,
                    "note": "stable serves no traffic at this weight: comparisons and pair metrics skipped",
                }
            )
        for spec in cfg.metrics:
            if not stable_serves:
                if spec.scope == "pair":
                    continue
                spec = dataclasses.replace(spec, compare=False, max_increase=None)
            obs = Observation(spec)
            sides = ("canary", "stable")
            for side in sides:
                if side == "stable" and not stable_serves:
                    obs.missing[side] = "stable serves no traffic at this weight"
                    continue
                seen = traffic.get(side)
                if seen is None:  # no series at all: a metrics pipeline problem, no data (no_data decides)
                    obs.missing[side] = "the requests query returned no samples"
                elif seen < cfg.min_requests:  # some traffic, too little to judge: inconclusive
                    obs.thin[side] = (
                        f"too little traffic ({seen:.0f} requests in {int(lookback_s)}s, "
                        f"min_requests {cfg.min_requests:g})"
                    )
                elif side == "canary" and stalled:
                    obs.thin[side] = stalled
                if spec.kind == "ratio":
                    num, den = render(spec.numerator, counted, side), render(spec.denominator, counted, side)
                    obs.queries[side] = f"({num}) / ({den})"
                    trials = instant(spec.name, side, den)
                    events = instant(spec.name, side, num) if trials is not None else None
                    unknown = self.unscraped(num) if trials is not None and events is None else ""
                    if trials is None:
                        obs.missing.setdefault(side, "no samples")
                    elif unknown:
                        obs.missing.setdefault(side, unknown)
                    else:
                        # a counter Prometheus knows but with no series for this track has counted nothing
                        # (prometheus-client creates a labelled series on its first increment)
                        sample = Counts(events if events is not None else 0.0, trials)
                        setattr(obs, f"{side}_sample", sample)
                        records.append(
                            {
                                "metric": spec.name,
                                "side": side,
                                "kind": "counts",
                                "query": obs.queries[side],
                                "lookback_s": lookback_s,
                                **sample.to_dict(),
                                "value": sample.value,
                            }
                        )
                elif spec.kind in ("quantile", "distribution"):
                    query = render(spec.buckets, counted, side)
                    obs.queries[side] = query
                    hist = histogram(query)
                    if hist is None or hist.total <= 0:
                        obs.missing.setdefault(side, "no samples")
                        records.append(
                            {
                                "metric": spec.name,
                                "side": side,
                                "kind": "histogram",
                                "query": query,
                                "lookback_s": lookback_s,
                                "value": None,
                                "no_data": "no samples",
                            }
                        )
                    else:
                        setattr(obs, f"{side}_sample", hist)
                        value = histogram_quantile(spec.quantile, hist) if spec.kind == "quantile" else None
                        records.append(
                            {
                                "metric": spec.name,
                                "side": side,
                                "kind": "histogram",
                                "query": query,
                                "lookback_s": lookback_s,
                                "histogram": hist.to_dict(),
                                "value": value,
                            }
                        )
                elif spec.scope == "pair":
                    if side == "stable":
                        continue
                    query = render(spec.query, target)
                    obs.queries["pair"] = query
                    obs.canary = instant(spec.name, "pair", query)
                    if obs.canary is None:
                        obs.missing["canary"] = "no samples"
                else:
                    query = render(spec.query, target, side)
                    obs.queries[side] = query
                    value = instant(spec.name, side, query)
                    setattr(obs, side, value)
                    if value is None:
                        obs.missing.setdefault(side, "no samples")
                    if spec.compare and "compare" in cfg.judges:
                        # non-overlapping points: each covers its own resolution-long window
                        pq = render(spec.query, points_target, side)
                        start = end - lookback_s + cfg.resolution
                        points = self.prom.values(pq, min(start, end), end, cfg.resolution)
                        records.append(
                            {
                                "metric": spec.name,
                                "side": side,
                                "kind": "range",
                                "query": pq,
                                "start": start,
                                "end": end,
                                "step": cfg.resolution,
                                "points": [[round(t, 3), v] for t, v in points],
                            }
                        )
                        setattr(obs, f"{side}_points", [v for _, v in points])
                if spec.counted and spec.query and spec.scope == "track":
                    # the display series for the timeline chart (the judges decide on the counts)
                    try:
                        dq = render(spec.query, target, side)
                        step = max(1.0, window_s / 6)
                        pts = self.prom.values(dq, end - lookback_s, end, step)
                        records.append(
                            {
                                "metric": spec.name,
                                "side": side,
                                "kind": "range",
                                "display": True,
                                "query": dq,
                                "start": end - lookback_s,
                                "end": end,
                                "step": step,
                                "points": [[round(t, 3), v] for t, v in pts],
                            }
                        )
                    except (InputError, NoData):
                        pass
            observations.append(obs)
        return observations, records, problems

    def unscraped(self, numerator: str) -> str:
        """Why an empty event count is no data rather than zero: no metric it names is scraped at all (a misnamed
        or unexported counter), or '' when Prometheus knows one of them (it has simply not counted yet)."""
        names = sorted(set(re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{", numerator)))
        if any(self.prom.known_metric(name) for name in names):
            return ""
        return (
            f"no target exposes {', '.join(names) or 'the counted metric'} (misnamed or not exported?), so "
            f"an empty count cannot be read as zero"
        )

    def analyse(self, step_index: int, weight_info: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        final = step_index == len(cfg.steps) - 1
        entry: dict[str, Any] = {
            "step": step_index + 1,
            "weight": weight_info.get("weight"),
            "effective_weight": weight_info.get("effective_weight"),
            "at": round(self.clock(), 3),
            "window": cfg.window,
            "lookback": cfg.lookback,
        }
        try:
            observations, records, problems = self.measure(weight_info)
        except InfraError as exc:
            entry.update(outcome="error", why=str(exc), measurements=[])
            self.analyses.append(entry)
            return entry
        verdicts: list[JudgeVerdict] = []
        if "threshold" in cfg.judges:
            v = threshold_judge(observations, cfg.no_data, cfg.confidence, final=final)
            if v:
                verdicts.append(v)
        if "compare" in cfg.judges:
            settings = CompareSettings(**{**cfg.compare.__dict__, "final": final})
            v = compare_judge(observations, settings)
            if v:
                verdicts.append(v)
        outcome = combine([v.outcome for v in verdicts])
        why = "; ".join(f"{v.judge}: {v.outcome} ({v.why})" for v in verdicts) or "no judge had a metric"
        if problems:
            why = "; ".join(problems) + "; " + why
        entry.update(
            outcome=outcome,
            why=why,
            problems=problems,
            judges=[v.to_dict() for v in verdicts],
            measurements=records,
        )
        self.analyses.append(entry)
        return entry

    # .. promote / roll back
    def promote(self) -> str:
        """Stable takes the canary's template; its rollout is waited for; the canary is removed. A stable rollout
        that fails is undone (the previous revision, as kubectl rollout undo) and the canary rolled back."""
        assert self.state is not None and self.stable is not None
        cfg = self.cfg
        self.state.phase = "promoting"
        self.state.record(event="promoting")
        self.save_state()
        template = promoted_template(self.stable["spec"]["template"], cfg)
        container = _container(template, cfg.container)
        patch_container: dict[str, Any] = {"name": container["name"], "image": cfg.image}
        if cfg.env:
            patch_container["env"] = [{"name": k, "value": v} for k, v in cfg.env.items()]
        self.kube.patch_deployment(
            cfg.namespace,
            cfg.deployment,
            {
                "spec": {
                    "replicas": self.state.stable_replicas,
                    "template": {"spec": {"containers": [patch_container]}},
                }
            },
        )
        self._record("promote", deployment=cfg.deployment, image=cfg.image)
        result = self.wait_ready(cfg.deployment, "promotion")
        if not result.ok:
            reason = f"the promoted stable Deployment did not roll out: {result.message}" + (
                f" ({'; '.join(result.problems)})" if result.problems else ""
            )
            undo = self.kube.undo(cfg.deployment, cfg.namespace, f"mlgate canary: {reason}"[:250])
            self._record("undo", deployment=cfg.deployment, message=undo.message)
            self.rollback(reason, getattr(undo, "changed_at", None))
            return "rolled_back"
        kind = cfg.router.get("kind", "replicas")
        if kind != "replicas":
            obj_kind, name = self._route_object()
            changes, _ = self.router.route(self.router_ctx(), 0, self.kube.get(obj_kind, cfg.namespace, name))
            self.apply_changes(changes + self.router.cleanup(self.router_ctx()))
        self.state.phase = "promoted"
        self.state.reason = "every step passed its analysis"
        self.state.record(event="promoted")
        self.save_state()
        self.kube.delete_deployment(cfg.namespace, cfg.canary_name)
        self._record("canary removed", deployment=cfg.canary_name)
        return "promoted"

    def rollback(self, reason: str, changed_at: str | None = None) -> None:
        assert self.state is not None
        self.state.phase = "rolling_back"
        self.state.reason = reason
        self.state.record(event="rolling_back", reason=reason)
        self.save_state()
        self.set_weight(0)
        self.kube.scale(self.cfg.namespace, self.cfg.canary_name, 0)
        self.require_ready(self.cfg.deployment, "rollback", changed_at)
        self.state.phase = "rolled_back"
        self.state.record(event="rolled_back", reason=reason)
        self.save_state()
        self._record("rollback", reason=reason)

    # .. the loop
    def execute(self) -> str:
        """Run to a verdict: promoted, rolled_back, held, interrupted (state recorded)."""
        cfg = self.cfg
        self.stable = self.kube.deployment(cfg.namespace, cfg.deployment)
        if self.stable is None:
            raise InputError(f"stable Deployment {cfg.namespace}/{cfg.deployment} not found")
        self.router = make_router(cfg.router.get("kind", "replicas"))
        if cfg.router.get("kind", "replicas") == "replicas":
            self.autoscaler = self.kube.autoscaler_for(cfg.namespace, cfg.deployment)
            if self.autoscaler:
                self._record(
                    "warning",
                    why=f"HorizontalPodAutoscaler {self.autoscaler} scales {cfg.deployment}: it "
                    f"may scale stable back up, so each analysis records the split it measured on (the "
                    f"canary's share only shrinks); for exact weights use a weight router",
                )
        canary = self.kube.deployment(cfg.namespace, cfg.canary_name)
        existing = CanaryState.from_annotations((canary or {}).get("metadata", {}).get("annotations"))
        target = target_of(cfg)
        stable_replicas = int(self.stable["spec"].get("replicas") or 1)
        if existing is not None and existing.phase not in ("rolled_back", "promoted"):
            stable_replicas = existing.stable_replicas  # the stable Deployment is scaled down mid-canary
        plan = plan_run(
            existing,
            target,
            cfg.image,
            cfg.steps,
            stable_replicas,
            target if stable_runs_target(self.stable, cfg) and canary is None else None,
            cfg.restart,
        )
        self.state = plan.state
        self._record("plan", kind=plan.kind, why=plan.why)
        if plan.kind == "done":
            if self.state.phase == "promoted" and canary is not None:
                # a run stopped between recording the promotion and removing the canary: finish that
                self.kube.delete_deployment(cfg.namespace, cfg.canary_name)
                self._record("canary removed", deployment=cfg.canary_name)
            return self.state.phase
        if plan.kind == "finish_promote":
            return self.promote()
        if plan.kind == "finish_rollback":
            self.rollback(self.state.reason or "an interrupted rollback was finished")
            return "rolled_back"
        if plan.kind == "start":
            if existing is not None and existing.phase not in ("rolled_back", "promoted"):
                self.state.stable_replicas = existing.stable_replicas
            self.state.record(event="start", image=cfg.image)
            replicas = self.router.canary_replicas(self.router_ctx(), cfg.steps[0])
            body = canary_deployment(self.stable, cfg, 0, self.state)
            if canary is None:
                self.kube.create_deployment(cfg.namespace, body)
            else:
                body["metadata"]["resourceVersion"] = canary["metadata"].get("resourceVersion")
                self.kube.replace_deployment(cfg.namespace, body)
            self._record("canary created", deployment=cfg.canary_name, image=cfg.image, replicas=replicas)
        else:
            self.state.record(event="resume", step=self.state.step + 1)
            self.save_state()
        self.ensure_canary_service()  # also on resume: a run may have stopped before it was created
        max_rounds = len(cfg.steps) * (cfg.failure_limit + cfg.inconclusive_limit + cfg.error_limit + 2) + 2
        for _ in range(max_rounds):
            step = self.state.step
            weight = cfg.steps[step]
            self.save_state()  # the step is recorded before its weight is set
            info = self.set_weight(weight)
            self._record("weight", step=step + 1, **info)
            ready = self.wait_ready(cfg.canary_name, f"step {step + 1}")
            if not ready.ok:  # a canary that cannot become ready is a failed canary
                self.rollback(
                    f"step {step + 1} ({weight}%): the canary did not become ready: {ready.message}"
                    + (f" ({'; '.join(ready.problems)})" if ready.problems else "")
                )
                return "rolled_back"
            if self.stop.sleep(cfg.interval):
                raise Interrupted(f"{self.stop.signal} during step {step + 1}")
            if self.autoscaler:
                info = {**info, **self.measured_split()}
            entry = self.analyse(step, info)
            outcome = entry["outcome"]
            self.state.record(event="analysis", step=step + 1, weight=weight, outcome=outcome)
            self.log(f"canary: step {step + 1} ({weight}%): {outcome}: {entry['why']}")
            move = next_move(self.state, outcome, cfg.limits, last=step + 1 >= len(cfg.steps))
            if move == "rollback_error":
                self.exit_hint = 3
                self.rollback(f"analysis failed {self.state.errors} time(s) in a row: {entry['why']}")
                return "rolled_back"
            if move == "rollback" and outcome == "fail":
                self.rollback(f"step {step + 1} ({weight}%): {entry['why']}")
                return "rolled_back"
            if move in ("rollback", "hold"):
                reason = f"{self.state.inconclusive} inconclusive analyses at step {step + 1}: {entry['why']}"
                if move == "rollback":
                    self.rollback(reason)
                    return "rolled_back"
                self.state.phase = "held"
                self.state.reason = reason
                self.state.record(event="held", reason=reason)
                self.save_state()
                return "held"
            if move == "promote":
                if self.stop:  # asked to stop during the last analysis: stop before changing the stable track
                    raise Interrupted(f"{self.stop.signal} before the promotion")
                return self.promote()
            # advance (the state's step moved on) or again (the same step is measured again)
        self.rollback(f"no verdict after {max_rounds} analyses")
        return "rolled_back"


def _promql_duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 or seconds != int(seconds) else f"{int(seconds)}s"


# -- report -----------------------------------------------------------------------------------------------------
def timeline_chart(analyses: list[dict[str, Any]], metrics: list[MetricSpec], path: Path) -> Path | None:
    """One panel per metric: canary and stable values over time (range points and step values), thresholds."""
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    steps: list[tuple[float, int]] = []
    for entry in analyses:
        steps.append((entry["at"], entry.get("weight") or 0))
        for m in entry.get("measurements", []):
            side = m["side"]
            bucket = series.setdefault(m["metric"], {})
            if m["kind"] == "range":
                bucket.setdefault(side, []).extend((t, v) for t, v in m["points"])
            elif m.get("value") is not None:
                bucket.setdefault(f"{side} (step)", []).append((entry["at"], m["value"]))
    names = [s.name for s in metrics if s.name in series]
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(t for entry in series.values() for pts in entry.values() for t, _ in pts)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True, squeeze=False)
    by_name = {s.name: s for s in metrics}
    colours = {"canary": "tab:orange", "stable": "tab:blue", "pair": "tab:purple"}
    for ax, name in zip(axes[:, 0], names):
        for label, pts in sorted(series[name].items()):
            pts = sorted(pts)
            xs, ys = [t - t0 for t, _ in pts], [v for _, v in pts]
            side = label.split()[0]
            if label.endswith("(step)"):
                ax.plot(xs, ys, "o", color=colours.get(side, "k"), label=label, markersize=5)
            else:
                ax.plot(xs, ys, "-", color=colours.get(side, "k"), label=label, linewidth=1)
        spec = by_name[name]
        for bound, style in ((spec.max, "--"), (spec.min, ":")):
            if bound is not None:
                ax.axhline(
                    bound,
                    color="tab:red",
                    linestyle=style,
                    linewidth=1,
                    label=f"{'max' if style == '--' else 'min'} {bound:g}",
                )
        for at, weight in steps:
            ax.axvline(at - t0, color="0.85", linewidth=0.8)
        ax.set_ylabel(name, fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    axes[-1, 0].set_xlabel("seconds since the first analysis window (grey lines: analyses)")
    fig.suptitle("canary analysis timeline", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _table(analyses: list[dict[str, Any]]) -> str:
    rows = ["| step | weight | outcome | why |", "|---|---|---|---|"]
    for a in analyses:
        why = str(a.get("why", "")).replace("|", "\\|")
        rows.append(
            f"| {a['step']} | {a.get('effective_weight', a.get('weight'))}% | {a['outcome']} | {why[:300]} |"
        )
    return "\n".join(rows)


def result_of(run: Run, verdict: str, error: str | None = None, report_dir: Path | None = None) -> GateResult:
    cfg, state = run.cfg, run.state
    checks: list[Check] = []
    # The verdict decides; an analysis the run went on from is context: measuring a step again after an
    # inconclusive one is normal progress (pass), a marginal one or a failure below failure_limit is a warning.
    # The analysis that ended the run keeps its own status.
    seen: dict[int, int] = {}
    for index, a in enumerate(run.analyses):
        deciding = index == len(run.analyses) - 1 and verdict != "promoted"
        status = {
            "pass": Status.PASS,
            "marginal": Status.WARN,
            "inconclusive": Status.PASS,
            "fail": Status.WARN,
            "error": Status.WARN,
        }[a["outcome"]]
        if deciding:
            status = {
                "pass": Status.PASS,
                "marginal": Status.WARN,
                "inconclusive": Status.WARN,
                "fail": Status.FAIL,
                "error": Status.ERROR,
            }[a["outcome"]]
        seen[a["step"]] = seen.get(a["step"], 0) + 1
        name = f"step {a['step']} ({a.get('weight')}%)" + (
            f" #{seen[a['step']]}" if seen[a["step"]] > 1 else ""
        )
        checks.append(
            Check(
                name=name,
                status=status,
                value=a["outcome"],
                why=a["why"],
                details={"effective_weight": a.get("effective_weight")},
            )
        )
    reason = state.reason if state else ""
    final_status = {
        "promoted": Status.PASS,
        "rolled_back": Status.FAIL,
        "held": Status.FAIL,
        "interrupted": Status.ERROR,
        "error": Status.ERROR,
    }.get(verdict, Status.ERROR)
    why = {
        "promoted": f"promoted {cfg.image}: {reason or 'every step passed'}",
        "rolled_back": f"rolled back {cfg.image}: {reason}",
        "held": f"canary held at its weight: {reason}",
        "interrupted": f"interrupted; state recorded on {cfg.canary_name}, re-run to resume: {error}",
        "error": f"stopped without promoting: {error}",
    }.get(verdict, str(error))
    checks.append(Check(name="verdict", status=final_status, value=verdict, why=why))
    evidence: dict[str, Any] = {
        "canary": {
            "namespace": cfg.namespace,
            "stable": cfg.deployment,
            "canary": cfg.canary_name,
            "image": cfg.image,
            "steps": cfg.steps,
            "interval_s": cfg.interval,
            "router": cfg.router,
            "window": cfg.window,
            "judges": cfg.judges,
            "prometheus": run.prom.url,
        },
        "verdict": verdict,
        "reason": reason,
        "analyses": run.analyses,
        "actions": run.actions,
        "state": (state.annotations() if state else {}),
    }
    if run.analyses:
        evidence["tables"] = {"canary steps": _table(run.analyses)}
    result = GateResult(
        gate="canary",
        checks=checks,
        evidence=evidence,
        summary={
            "verdict": verdict,
            "decision": verdict.replace("_", "-"),
            "image": cfg.image,
            "step": (state.step + 1) if state else 0,
            "weight": state.weight if state else 0,
            "reason": reason or (error or ""),
        },
    )
    if report_dir is not None and run.analyses:
        try:
            chart = timeline_chart(run.analyses, cfg.metrics, report_dir / "canary-timeline.png")
            if chart:
                result.artifacts["canary timeline"] = str(chart)
        except (
            ImportError,
            OSError,
            ValueError,
            TypeError,
            RuntimeError,
        ) as exc:  # a chart never decides anything
            evidence["chart_error"] = f"{type(exc).__name__}: {exc}"
    return result


def run_canary(
    section: dict[str, Any],
    report_dir: Path,
    kube: Cluster | None = None,
    prom: PrometheusClient | None = None,
    stop: Stop | None = None,
    kubeconfig: str | None = None,
    log: Callable[[str], None] = print,
) -> GateResult:
    cfg = CanaryConfig.from_section(section)
    p = cfg.prometheus
    if prom is None:
        if not p.get("url"):
            raise InputError(
                "canary.prometheus.url is required (policy, --prometheus-url or MLGATE_PROMETHEUS_URL)"
            )
        prom = PrometheusClient(
            p["url"],
            timeout=parse_duration(p.get("timeout", 10), "canary.prometheus.timeout"),
            retries=int(p.get("retries", 3)),
            backoff=float(p.get("backoff", 0.5)),
        )
    kube = kube or Cluster.connect(kubeconfig or section.get("kubeconfig"), section.get("context"))
    stop = stop or Stop()
    installed = not stop._previous
    if installed:
        stop.install()
    run = Run(cfg, kube, prom, stop=stop, log=log)
    verdict, error, hint = "error", None, None
    try:
        verdict = run.execute()
        hint = run.exit_hint
    except Interrupted as exc:
        verdict, error, hint = "interrupted", str(exc), None
        if run.state is not None:
            run.state.record(event="interrupted", why=str(exc))
            try:
                run.save_state()
            except Exception as save_exc:  # noqa: BLE001 - reported, the recorded step still stands
                error += f" (saving the state failed: {save_exc})"
    except (InfraError, InputError) as exc:
        verdict, error, hint = "error", str(exc), exc.exit_code
        if run.state is not None and run.state.phase in ("progressing",):
            run.state.record(event="error", why=str(exc))
            try:
                run.save_state()
            except (InfraError, InputError) as save_exc:  # the cluster may be the thing that failed
                error += f" (recording the state failed: {save_exc})"
    finally:
        if installed:
            stop.uninstall()
    result = result_of(run, verdict, error, report_dir)
    if hint in (2, 3):
        result.exit_code_hint = hint
        result.checks.insert(
            0,
            Check(
                name="gate", status=Status.ERROR, why=error or (run.state.reason if run.state else "error")
            ),
        )
    return result
