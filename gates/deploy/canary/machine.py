"""The canary state machine: for each step set the traffic weight, wait the interval, analyse, then advance,
repeat, hold, promote or roll back. The state lives in annotations on the canary Deployment
(gates.deploy.canary.state), written before every change, so an interrupted run (runner killed, SIGTERM) is
resumed or converged by running the same command.

Safety rules:
- promotion needs every step to pass its analysis; a Prometheus that cannot be reached is an error, never a pass;
  after ``error_limit`` analyses in a row fail to reach it the canary is rolled back (exit 3);
- a change the cluster rejects stops the run (exit 2 or 3) before anything is promoted;
- SIGTERM (or SIGINT) sets a flag that the waits check every 0.2 s: the run records the state and exits, leaving
  the traffic at the weight of the recorded step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gates.core import progress
from gates.core.errors import InfraError, InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.canary import CanarySettings, Shadow
from gates.deploy.canary import measurement
from gates.deploy.canary.cluster import Cluster
from gates.deploy.canary.config import (
    CanaryConfig,
    canary_deployment,
    parse_duration,
    pod_container,
    promoted_template,
    stable_runs_target,
    target_of,
)
from gates.deploy.canary.decision import decide
from gates.deploy.canary.report import result_of
from gates.deploy.canary.state import CanaryState, is_terminal_look, next_move, plan_run
from gates.deploy.canary.stop import Interrupted, Stop
from gates.deploy.judges import Observation
from gates.deploy.prometheus import PrometheusClient
from gates.deploy.routers import Change, RouterContext, canary_service, make_router


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
    shadow: Shadow | None = None  # canary.shadow when enabled: the shadow stage runs before a new canary
    shadow_result: GateResult | None = None
    canary_exists: bool = False  # where the state is saved: nothing to save to before the canary exists

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
        """Seconds the counted metrics cover (gates.deploy.canary.measurement.lookback)."""
        return measurement.lookback(self.cfg, end, self.state.started if self.state else None)

    def measure(
        self, weight_info: dict[str, Any]
    ) -> tuple[list[Observation], list[dict[str, Any]], list[str]]:
        """Query every metric for both tracks, ending now. InfraError propagates."""
        started = self.state.started if self.state else None
        return measurement.measure(self.cfg, self.prom, self.clock(), started, weight_info)

    def analyse(self, step_index: int, weight_info: dict[str, Any]) -> dict[str, Any]:
        """Measure and decide one step; the entry (outcome, why, judges, every query and value) is kept."""
        cfg = self.cfg
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
        final = step_index == len(cfg.steps) - 1
        terminal = (
            "sequential" in cfg.judges
            and cfg.sequential.terminal_share > 0
            and self.state is not None
            and is_terminal_look(self.state, cfg.limits)
        )
        entry.update(
            decide(cfg, observations, problems, final=final, history=self.analyses, terminal=terminal)
        )
        if terminal:
            assert self.state is not None
            self.state.terminal_tested = True
            entry["terminal"] = True
        entry["measurements"] = records
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
        container = pod_container(template, cfg.container)
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

    # .. the shadow stage
    def shadow_passed(self) -> bool:
        """Run the shadow stage (gates.deploy.canary.shadow_stage) and record its verdict in the state; a
        failure ends the run before the canary exists, so nothing is rolled back: no user saw the candidate."""
        assert self.state is not None and self.shadow is not None
        from gates.deploy.canary.shadow_stage import run_stage

        self.shadow_result = run_stage(self, self.shadow)
        verdict = self.shadow_result.summary.get("verdict", "fail")
        reason = str(self.shadow_result.summary.get("reason", ""))
        self.state.record(event="shadow", verdict=verdict, reason=reason)
        self._record("shadow", verdict=verdict, reason=reason)
        if verdict == "pass":
            return True
        self.state.reason = f"shadow stage: {reason}; the candidate never took live traffic"
        return False

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
        self.canary_exists = canary is not None
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
            if self.shadow is not None and not self.shadow_passed():
                return "shadow_failed"
            if self.shadow is None:  # a killed shadow stage may have left the tee on stable: off first
                from gates.deploy.canary.shadow_stage import clear_leftover_tee

                clear_leftover_tee(self)
            self.state.record(event="start", image=cfg.image)
            replicas = self.router.canary_replicas(self.router_ctx(), cfg.steps[0])
            body = canary_deployment(self.stable, cfg, 0, self.state)
            if canary is None:
                self.kube.create_deployment(cfg.namespace, body)
            else:
                body["metadata"]["resourceVersion"] = canary["metadata"].get("resourceVersion")
                self.kube.replace_deployment(cfg.namespace, body)
            self.canary_exists = True
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
            progress.waiting(
                f"canary step {step + 1}/{len(cfg.steps)} at {weight}%: next analysis", cfg.interval
            )
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


def run_canary(
    section: CanarySettings | Mapping[str, Any],
    kube: Cluster | None = None,
    prom: PrometheusClient | None = None,
    stop: Stop | None = None,
    kubeconfig: str | None = None,
    log: Callable[[str], None] = print,
) -> GateResult:
    settings = CanarySettings.of(section)
    cfg = CanaryConfig.from_section(settings)
    p = cfg.prometheus
    if prom is None:
        if not p.url:
            raise InputError(
                "canary.prometheus.url is required (policy, --prometheus-url or MLGATE_PROMETHEUS_URL)"
            )
        prom = PrometheusClient(
            p.url,
            timeout=parse_duration(p.timeout, "canary.prometheus.timeout"),
            retries=p.retries,
            backoff=p.backoff,
        )
    kube = kube or Cluster.connect(kubeconfig or settings.kubeconfig, settings.context)
    stop = stop if stop is not None else Stop()  # a Stop is falsy until signalled
    installed = not stop._previous
    if installed:
        stop.install()
    shadow = settings.shadow if settings.shadow.enabled else None
    run = Run(cfg, kube, prom, stop=stop, log=log, shadow=shadow)
    verdict, error, hint = "error", None, None
    try:
        verdict = run.execute()
        hint = run.exit_hint
    except Interrupted as exc:
        verdict, error, hint = "interrupted", str(exc), None
        if run.state is not None and run.canary_exists:  # interrupted before it (the shadow): nothing to save
            run.state.record(event="interrupted", why=str(exc))
            try:
                run.save_state()
            except Exception as save_exc:  # noqa: BLE001 - reported, the recorded step still stands
                error += f" (saving the state failed: {save_exc})"
    except (InfraError, InputError) as exc:
        verdict, error, hint = "error", str(exc), exc.exit_code
        if run.state is not None and run.canary_exists and run.state.phase in ("progressing",):
            run.state.record(event="error", why=str(exc))
            try:
                run.save_state()
            except (InfraError, InputError) as save_exc:  # the cluster may be the thing that failed
                error += f" (recording the state failed: {save_exc})"
    finally:
        if installed:
            stop.uninstall()
    result = result_of(run, verdict, error)
    if hint in (2, 3):
        result.exit_code_hint = hint
        result.checks.insert(
            0,
            Check(
                name="gate", status=Status.ERROR, why=error or (run.state.reason if run.state else "error")
            ),
        )
    return result
