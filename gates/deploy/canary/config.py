"""The canary's settings (the policy's `canary` section, typed) and the Deployments derived from them: the
canary's own Deployment and the template stable takes on promotion."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from gates.core.errors import InputError
from gates.deploy.canary.state import CanaryState, Limits, template_hash
from gates.deploy.judges import CompareSettings
from gates.deploy.queries import DEFAULT_METRICS, DEFAULT_NAMES, DEFAULT_SELECTOR, MetricSpec, metric_specs
from gates.deploy.sequential import SequentialSettings

TRACK_LABEL = "track"
SEQUENTIAL = SequentialSettings()  # the defaults


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
    sequential: SequentialSettings
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
        sequential = analysis.get("sequential") or {}
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
            # sequential decides the counted metrics anytime-valid; threshold the series and pair metrics
            judges=list(analysis.get("judges") or ["sequential", "threshold"]),
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
            sequential=SequentialSettings(
                alpha=float(sequential.get("alpha", SEQUENTIAL.alpha)),
                tolerance=float(sequential.get("tolerance", SEQUENTIAL.tolerance)),
                margin=float(sequential.get("margin", SEQUENTIAL.margin)),
                scale=float(sequential.get("scale", SEQUENTIAL.scale)),
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
