"""The canary's settings (the policy's `canary` section, typed) and the Deployments derived from them: the
canary's own Deployment and the template stable takes on promotion."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gates.core.errors import InputError
from gates.core.settings.canary import CanarySettings, Prometheus
from gates.deploy.canary.state import CanaryState, Limits, template_hash
from gates.deploy.judges import CompareSettings
from gates.deploy.queries import DEFAULT_METRICS, DEFAULT_NAMES, DEFAULT_SELECTOR, MetricSpec, metric_specs
from gates.deploy.sequential import SequentialSettings

TRACK_LABEL = "track"


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
    prometheus: Prometheus
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
    def from_section(cls, section: CanarySettings | Mapping[str, Any]) -> CanaryConfig:
        """The run's configuration from the typed settings (a mapping is validated like the policy first)."""
        s = CanarySettings.of(section)
        for key in ("deployment", "image"):
            if not getattr(s, key):
                raise InputError(f"canary.{key} is required (policy or --{key})")
        analysis = s.analysis
        steps = list(s.steps)
        if steps != sorted(set(steps)):
            raise InputError(f"canary.steps {steps}: expected increasing percentages in 1..100")
        confidence = analysis.confidence or analysis.compare.confidence or 0.98
        window = analysis.window
        assert s.deployment is not None and s.image is not None
        return cls(
            namespace=s.namespace,
            deployment=s.deployment,
            image=s.image,
            container=s.container,
            env={k: str(v) for k, v in s.env.items()},
            canary_env={k: str(v) for k, v in s.canary_env.items()},
            steps=steps,
            interval=parse_duration(s.interval, "canary.interval"),
            rollout_timeout=parse_duration(s.rollout_timeout, "canary.rollout_timeout"),
            router=s.router.model_dump(exclude_none=True),
            prometheus=s.prometheus,
            window=window,
            lookback=analysis.lookback,
            resolution=parse_duration(
                analysis.resolution if analysis.resolution is not None else window,
                "canary.analysis.resolution",
            ),
            confidence=confidence,
            selector=analysis.selector or DEFAULT_SELECTOR,
            names={**DEFAULT_NAMES, **analysis.metric_names},
            metrics=metric_specs(
                [m.model_dump(exclude_unset=True) for m in analysis.metrics]
                if analysis.metrics
                else DEFAULT_METRICS
            ),
            # sequential decides the counted metrics anytime-valid; threshold the series and pair metrics
            judges=list(analysis.judges),
            failure_limit=analysis.failure_limit,
            inconclusive_limit=analysis.inconclusive_limit,
            on_inconclusive_limit=analysis.on_inconclusive_limit,
            error_limit=analysis.error_limit,
            no_data=analysis.no_data,
            min_requests=float(analysis.min_requests),
            compare=CompareSettings(
                confidence=analysis.compare.confidence or confidence,
                tolerance=analysis.compare.tolerance,
                margin=analysis.compare.margin,
                effect=analysis.compare.effect,
                pass_score=analysis.compare.pass_score,
                marginal_score=analysis.compare.marginal_score,
                min_points=analysis.compare.min_points,
                no_data=analysis.no_data,
            ),
            sequential=SequentialSettings(
                alpha=analysis.sequential.alpha,
                tolerance=analysis.sequential.tolerance,
                margin=analysis.sequential.margin,
                scale=analysis.sequential.scale,
                no_data=analysis.no_data,
                terminal_share=analysis.sequential.terminal_share,
            ),
            restart=s.restart,
        )


# -- deriving the canary ----------------------------------------------------------------------------------------
def pod_container(template: dict[str, Any], name: str | None) -> dict[str, Any]:
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
    container = pod_container(template, cfg.container)
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
        _set_env(pod_container(template, cfg.container), cfg.canary_env)
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
    container = pod_container(stable["spec"]["template"], cfg.container)
    env = {e.get("name"): e.get("value") for e in container.get("env") or []}
    return container.get("image") == cfg.image and all(env.get(k) == v for k, v in cfg.env.items())
