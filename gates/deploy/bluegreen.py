"""Blue/green delivery (`mlgate deploy --strategy blue-green`): the new version runs as its own Deployment beside
the live one, is validated, and then the Service's selector switches to it at once; the old colour stays scaled
for `keep_seconds`, so switching back is instant.

Objects: for the rendered Deployment D and the Service S that selects it, the colours are Deployments
`D-blue` and `D-green`, whose selector and pod labels carry `mlgate.io/color`; S selects one colour. The
Service's annotations hold the state (live and previous colour, when and which image was switched to, whether
the last move was a switch back), so every step is derived from the cluster and a re-run converges:
interrupted before the switch, it re-applies (unchanged), re-validates and switches; after it, it finds the
image live and changes nothing but the scale-down of what has passed its keep time.

Order: scale down old colours whose keep time has passed -> apply the other objects (not the Service, not
the HorizontalPodAutoscaler, which names one Deployment) -> apply the new colour with the live colour's
replica count -> wait for its rollout -> validate it (health, golden predictions, burst latency and errors, bad
requests: gates.deploy.validate) on its own pods (or `preview_url`) -> compare it with the live colour on the
same test requests (the sequential judge: gates.deploy.bluegreen_judge) -> mark the old colour for scale-down
after `keep_seconds` -> switch the Service (one write). The mark comes first so that no interruption leaves
the old colour scaled for ever. A failed rollout, validation or comparison leaves the live colour serving and
scales the new one to zero. The GateResult (gate `deploy`, summary verdict switched / switched_back /
unchanged / not_switched) goes to every report format and the audit trail.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InfraError, InputError
from gates.core.result import Check, GateResult, Status, error_result
from gates.deploy.bluegreen_route import ROUTE_API, colour_service, live_colour, switch_patch

# compares the new colour (url) with the live one (url) on test traffic: the `judge` check and its evidence
Judge = Callable[[str, str], tuple[Check, dict[str, Any]]]

COLOR = "mlgate.io/color"
COLORS = ("blue", "green")
LIVE = "mlgate.io/bluegreen-live"
PREVIOUS = "mlgate.io/bluegreen-previous"
SWITCHED_AT = "mlgate.io/bluegreen-switched-at"
SWITCHED_BACK = "mlgate.io/bluegreen-switched-back"
LIVE_IMAGES = "mlgate.io/bluegreen-images"
SCALE_DOWN_AFTER = "mlgate.io/scale-down-after"
SKIPPED_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler")
DEFAULT_KEEP_SECONDS = 3600.0


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _epoch(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(str(text)).timestamp() if text else None
    except ValueError:
        return None


def other(color: str | None) -> str:
    return "green" if color == "blue" else "blue"


def images_of(deployment: Mapping[str, Any]) -> str:
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    return ",".join(f"{c.get('name')}={c.get('image')}" for c in containers)


def pick(objects: list[dict[str, Any]], settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment to colour and the Service that selects its pods (named in blue_green, else the only one)."""
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    wanted = settings.get("deployment")
    if wanted:
        deployments = [d for d in deployments if d["metadata"]["name"] == wanted]
    if len(deployments) != 1:
        names = ", ".join(d["metadata"]["name"] for d in deployments) or "none"
        raise InputError(
            f"blue-green needs exactly one Deployment (found: {names}); name it in deploy.blue_green.deployment"
        )
    deployment = deployments[0]
    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    services = [
        o
        for o in objects
        if o.get("kind") == "Service"
        and (o.get("spec") or {}).get("selector")
        and all(labels.get(k) == v for k, v in o["spec"]["selector"].items() if k != COLOR)
    ]
    if settings.get("service"):
        services = [s for s in services if s["metadata"]["name"] == settings["service"]]
    if len(services) != 1:
        names = ", ".join(s["metadata"]["name"] for s in services) or "none"
        raise InputError(
            f"blue-green needs exactly one Service selecting Deployment {deployment['metadata']['name']!r} "
            f"(found: {names}); name it in deploy.blue_green.service"
        )
    return deployment, services[0]


def coloured(deployment: dict[str, Any], color: str, replicas: int) -> dict[str, Any]:
    """The colour's Deployment: its own name, `mlgate.io/color` in selector and pod labels, the live replicas."""
    out = copy.deepcopy(deployment)
    meta = out["metadata"]
    meta["name"] = f"{meta['name']}-{color}"
    meta.setdefault("labels", {})[COLOR] = color
    out["spec"]["replicas"] = replicas
    out["spec"]["selector"].setdefault("matchLabels", {})[COLOR] = color
    out["spec"]["template"]["metadata"].setdefault("labels", {})[COLOR] = color
    return out


class BlueGreen:
    """One blue/green run against a cluster (`kube`: gates.deploy.kube.Kube)."""

    def __init__(
        self,
        kube: Any,
        deployment: dict[str, Any],
        service: dict[str, Any],
        settings: Mapping[str, Any],
        progress: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ):
        self.kube = kube
        self.template = deployment
        self.service = service
        self.settings = settings
        self.say = progress
        self.clock = clock
        self.namespace = deployment["metadata"].get("namespace")
        self.base = deployment["metadata"]["name"]
        self.checks: list[Check] = []
        self.evidence: dict[str, Any] = {"actions": []}
        self.route: Mapping[str, str] | None = settings.get("route") or None

    @property
    def service_name(self) -> str:
        return str(self.service["metadata"]["name"])

    # -- cluster state -------------------------------------------------------------------------------------------
    def live_service(self) -> dict[str, Any] | None:
        return self.kube.get("v1", "Service", self.service_name, self.namespace)

    def route_object(self) -> dict[str, Any]:
        """The route the policy names, as the cluster has it (it must exist: its backends are what switch)."""
        assert self.route is not None
        kind, name = self.route["kind"], self.route["name"]
        found = self.kube.get(ROUTE_API[kind], kind, name, self.namespace)
        if found is None:
            raise InputError(
                f"{kind} {self.namespace}/{name} not found (deploy.blue_green.route): apply it first"
            )
        return dict(found)

    def live_state(self) -> tuple[dict[str, Any] | None, str | None, dict[str, str]]:
        """(the switched object, the live colour, its state annotations): the route's backends and annotations
        when the policy names a route, else the Service's selector and annotations."""
        switched: dict[str, Any] | None
        if self.route:
            switched = self.route_object()
            live = live_colour(switched, self.service_name, COLORS)
        else:
            switched = self.live_service()
            live = ((switched or {}).get("spec") or {}).get("selector", {}).get(COLOR)
        return switched, live, dict(((switched or {}).get("metadata") or {}).get("annotations") or {})

    def colour_deployment(self, color: str) -> dict[str, Any] | None:
        return self.kube.get("apps/v1", "Deployment", f"{self.base}-{color}", self.namespace)

    def scale(self, name: str, replicas: int, annotations: Mapping[str, str | None] | None = None) -> None:
        patch: dict[str, Any] = {"spec": {"replicas": replicas}}
        if annotations is not None:
            patch["metadata"] = {"annotations": dict(annotations)}
        self.kube.patch("apps/v1", "Deployment", name, self.namespace, patch)
        self.evidence["actions"].append(f"{name}: replicas {replicas}")

    def annotate(self, name: str, annotations: Mapping[str, str | None]) -> None:
        self.kube.patch(
            "apps/v1", "Deployment", name, self.namespace, {"metadata": {"annotations": dict(annotations)}}
        )

    def scale_down_expired(self, live: str | None) -> None:
        """Old colours (and, once a colour is live, a plain Deployment the first switch replaced) whose keep time
        has passed go to zero; the live colour's mark (left by an interrupted switch) is ignored."""
        now = self.clock()
        names = [f"{self.base}-{c}" for c in COLORS if c != live] + ([self.base] if live else [])
        for name in names:
            found = self.kube.get("apps/v1", "Deployment", name, self.namespace)
            if not found or not (found["spec"].get("replicas") or 0):
                continue
            after = _epoch((found["metadata"].get("annotations") or {}).get(SCALE_DOWN_AFTER))
            if after is not None and after <= now:
                self.scale(name, 0)
                self.say(f"{name}: kept past {_iso(after)}, scaled to zero")

    # -- steps ---------------------------------------------------------------------------------------------------
    def deploy(
        self,
        others: list[dict[str, Any]],
        timeout: float | None,
        validate: Callable[[str], GateResult],
        judge: Judge | None = None,
    ) -> str:
        """Run the forward switch; returns the verdict (switched, unchanged, not_switched)."""
        from gates.deploy.apply import apply_objects
        from gates.deploy.rollout import wait_for_rollout

        _, live, _ = self.live_state()
        self.evidence["live_before"] = live
        wanted = images_of(self.template)
        live_deployment = self.colour_deployment(live) if live else None
        if live_deployment and images_of(live_deployment) == wanted:
            self.checks.append(
                Check("switch", Status.PASS, f"{wanted} is already live on {live}: nothing to do")
            )
            self.scale_down_expired(live)
            return "unchanged"
        self.scale_down_expired(live)
        new = other(live)
        previous = live_deployment or self.kube.get("apps/v1", "Deployment", self.base, self.namespace)
        replicas = int(
            ((previous or {}).get("spec") or {}).get("replicas") or self.template["spec"].get("replicas") or 1
        )
        target = coloured(self.template, new, replicas)
        name = target["metadata"]["name"]
        self.say(f"blue-green: live {live or 'none'}, deploying {wanted} as {new} ({replicas} replicas)")
        # behind a route, each colour has its own Service for the route to name
        front = [colour_service(self.service, new, COLOR)] if self.route else []
        applied = apply_objects(self.kube, [*others, target, *front], progress=self.say)
        self.annotate(name, {SCALE_DOWN_AFTER: None})
        self.checks.append(
            Check("apply", Status.PASS, f"{len(applied)} objects applied; {name} runs {wanted}")
        )
        rollout = wait_for_rollout(self.kube, name, self.namespace, timeout=timeout, progress=self.say)
        self.evidence["rollout"] = rollout.to_dict()
        if not rollout.ok:
            self.checks.append(
                Check("rollout", Status.FAIL, f"{rollout.message}; live stays {live or 'as it was'}")
            )
            self.scale(name, 0)
            return "not_switched"
        self.checks.append(Check("rollout", Status.PASS, rollout.message))
        url = self.settings.get("preview_url") or self.pod_url(name)
        if self.settings.get("validation", True):
            self.say(f"blue-green: validating {new} at {url}")
            result = validate(url)
            self.evidence["validation"] = result.to_dict()
            failed = [c for c in result.checks if not c.status.passed]
            if failed:
                why = "; ".join(f"{c.name}: {c.why}" for c in failed[:3])
                self.checks.append(
                    Check("validate", Status.FAIL, f"{new} failed validation ({why}); not switched")
                )
                self.scale(name, 0)
                return "not_switched"
            self.checks.append(
                Check("validate", result.status, f"{new} passed {len(result.checks)} validation checks")
            )
        if judge is not None and not self.compare(judge, url, live, previous):
            self.scale(name, 0)
            return "not_switched"
        keep = max(0.0, float(self.settings.get("keep_seconds", DEFAULT_KEEP_SECONDS)))
        old = f"{self.base}-{live}" if live else (self.base if previous else None)
        if old and previous:  # marked before the switch, so an interrupted run never keeps it for ever
            self.annotate(old, {SCALE_DOWN_AFTER: _iso(self.clock() + keep)})
        self.switch(new, live, wanted, back=False)
        if old and previous:
            if keep <= 0:
                self.scale(old, 0)
            else:
                self.say(f"{old} stays scaled for a switch back until {_iso(self.clock() + keep)}")
        return "switched"

    def compare(self, judge: Judge, url: str, live: str | None, previous: dict[str, Any] | None) -> bool:
        """The new colour against the live one on the same test requests (a plain Deployment the Service
        selected before the first switch counts as live); False when the switch must not happen."""
        settings = self.settings.get("judge") or {}
        if not settings.get("enabled", True):
            return True
        if previous is None or not ((previous.get("spec") or {}).get("replicas") or 0):
            self.checks.append(
                Check("judge", Status.WARN, "no live version to compare with: validation alone decided")
            )
            return True
        live_url = settings.get("live_url") or self.pod_url(previous["metadata"]["name"])
        self.say(f"blue-green: comparing {other(live)} at {url} with live {live or self.base} at {live_url}")
        check, evidence = judge(url, live_url)
        self.evidence["judge"] = evidence
        passed = check.status in (Status.PASS, Status.WARN)
        if not passed:
            check.why += "; not switched"
        self.checks.append(check)
        return passed

    def switch(self, new: str, live: str | None, images: str, back: bool) -> None:
        """Point the Service (server-side apply of the manifest's Service + the colour) or the route (a merge
        patch of its backends, gates.deploy.bluegreen_route) at `new`, state annotations included: one write."""
        state = {
            LIVE: new,
            PREVIOUS: live or "",
            SWITCHED_AT: _iso(self.clock()),
            SWITCHED_BACK: "true" if back else "false",
            LIVE_IMAGES: images,
        }
        if self.route:
            kind, name = self.route["kind"], self.route["name"]
            patch = switch_patch(self.route_object(), self.service_name, new, COLORS, state)
            self.kube.patch(ROUTE_API[kind], kind, name, self.namespace, patch)
            what = f"{kind} {name}"
        else:
            service = copy.deepcopy(self.service)
            service["spec"]["selector"] = {**service["spec"]["selector"], COLOR: new}
            service["metadata"].setdefault("annotations", {}).update(state)
            self.kube.apply(service)
            what = f"Service {self.service_name}"
        self.evidence["switch"] = {"from": live, "to": new, "images": images, "back": back, "object": what}
        verb = "switched back" if back else "switched"
        self.checks.append(Check("switch", Status.PASS, f"{what} {verb} from {live or 'none'} to {new}"))

    def switch_back(self) -> str:
        switched, live, annotations = self.live_state()
        if not switched or not live:
            what = (
                f"{self.route['kind']} {self.route['name']}" if self.route else f"Service {self.service_name}"
            )
            raise InputError(f"{what}: not switched by blue-green yet: nothing to switch back to")
        if annotations.get(SWITCHED_BACK) == "true":
            self.checks.append(
                Check("switch", Status.PASS, f"already switched back to {live}: nothing to do")
            )
            return "unchanged"
        previous = annotations.get(PREVIOUS) or ""
        if previous not in COLORS:
            raise InputError(f"Service {self.service_name}: no previous colour recorded to switch back to")
        target = self.colour_deployment(previous)
        status = (target or {}).get("status") or {}
        replicas = ((target or {}).get("spec") or {}).get("replicas") or 0
        if not target or not replicas or (status.get("availableReplicas") or 0) < replicas:
            self.checks.append(
                Check(
                    "switch",
                    Status.FAIL,
                    f"{self.base}-{previous} is not running (scaled down or unavailable): deploy it again instead",
                )
            )
            return "not_switched"
        keep = float(self.settings.get("keep_seconds", DEFAULT_KEEP_SECONDS))
        if self.colour_deployment(live):  # marked first, as in deploy
            self.annotate(f"{self.base}-{live}", {SCALE_DOWN_AFTER: _iso(self.clock() + keep)})
        self.switch(previous, live, images_of(target), back=True)
        return "switched_back"

    def pod_url(self, name: str) -> str:
        """http://POD_IP:PORT of a ready pod of Deployment `name` at its current revision (the `http` port,
        else the first declared). A pod of an older revision still terminating after the rollout (it may stay
        Ready for its grace period) would validate the old version, or refuse every request once stopped."""
        from gates.deploy.rollout import HASH_LABEL, replica_sets

        deployment = self.kube.get("apps/v1", "Deployment", name, self.namespace)
        if deployment is None:
            raise InfraError(f"Deployment {self.namespace}/{name} not found")
        current = replica_sets(self.kube, deployment)[:1]
        revision = ((current[0]["metadata"].get("labels") or {}).get(HASH_LABEL)) if current else None
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
        pods = self.kube.list("v1", "Pod", self.namespace, label_selector=selector)
        ready = [
            p
            for p in pods
            if (p.get("status") or {}).get("podIP")
            and not p["metadata"].get("deletionTimestamp")
            and (revision is None or (p["metadata"].get("labels") or {}).get(HASH_LABEL) == revision)
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in p["status"].get("conditions") or []
            )
        ]
        if not ready:
            raise InfraError(
                f"no ready pod of {deployment['metadata']['name']} to validate (give deploy.blue_green.preview_url)"
            )
        ports = [
            p for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or []
        ]
        port = next((p for p in ports if p.get("name") == "http"), ports[0] if ports else None)
        if port is None:
            raise InputError(
                f"{deployment['metadata']['name']}: no container port to validate on (give deploy.blue_green.preview_url)"
            )
        return f"http://{ready[0]['status']['podIP']}:{port['containerPort']}"


def run_blue_green(
    plan: dict[str, Any],
    rendered: Any,
    settings: Mapping[str, Any],
    validate_section: Mapping[str, Any] | None,
    ctx: GateContext,
    *,
    switch_back: bool = False,
    kubeconfig: str | None = None,
    context: str | None = None,
    kube: Any = None,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """A blue/green deploy (or switch back) as one GateResult; bad input exit 2, cluster unreachable exit 3."""
    from gates.deploy.kube import connect
    from gates.deploy.run import validate_objects

    say = progress or (lambda _line: None)
    source = ", ".join(str(p) for p in plan["paths"])
    evidence: dict[str, Any] = {
        "strategy": "blue-green",
        "manifests": [str(p) for p in plan["paths"]],
        "images": plan["images"],
    }
    try:
        deployment, service = pick(rendered.objects, settings)
        summary: dict[str, Any] = {"strategy": "blue-green", "image": images_of(deployment)}
        checks = [] if switch_back else [validate_objects(rendered.objects, source, plan["policy_check"])]
        if checks and checks[0].status is Status.FAIL:
            return GateResult(
                "deploy", checks=checks, evidence=evidence, summary={**summary, "verdict": "not_switched"}
            )
        kube = kube or connect(kubeconfig, context)
        run = BlueGreen(kube, deployment, service, settings, say)
        if switch_back:
            verdict = run.switch_back()
        else:
            route = settings.get("route") or {}
            others = [  # the route is switched, never re-applied from the manifest (that would move traffic)
                o
                for o in rendered.objects
                if o.get("kind") not in SKIPPED_KINDS
                and not (o.get("kind") == route.get("kind") and o["metadata"]["name"] == route.get("name"))
            ]
            skipped = [
                o["metadata"]["name"] for o in rendered.objects if o.get("kind") == "HorizontalPodAutoscaler"
            ]
            if skipped:
                evidence["not_applied"] = {
                    "HorizontalPodAutoscaler": skipped,
                    "why": "it names one Deployment; colours keep the live replica count",
                }

            from gates.core.settings.delivery import ValidateSettings
            from gates.deploy import validate as endpoint

            endpoint_settings = ValidateSettings.of(validate_section or {})
            golden = (
                endpoint.load_golden(ctx.path(endpoint_settings.golden, what="golden file"))
                if endpoint_settings.golden
                else None
            )

            def validate(url: str) -> GateResult:
                checks_settings = endpoint_settings.model_copy(update={"url": url})
                observation = endpoint.collect(checks_settings, golden, progress=say)
                return endpoint.evaluate(
                    observation,
                    checks_settings,
                    ctx.bootstrap(checks_settings),
                    ctx.decide_on(checks_settings),
                )

            def judge(url: str, live_url: str) -> tuple[Check, dict[str, Any]]:
                from gates.deploy.bluegreen_judge import judge_colours
                from gates.deploy.endpoint_traffic import expand_headers

                return judge_colours(
                    {"new": url, "live": live_url},
                    [row["input"] for row in golden or [] if isinstance(row["input"], dict)],
                    settings.get("judge") or {},
                    endpoint_settings.paths,
                    expand_headers(endpoint_settings.headers),
                    endpoint_settings.request_timeout_seconds,
                    progress=say,
                )

            verdict = run.deploy(others, plan["timeout"], validate, judge)
    except InputError as exc:
        return error_result("deploy", str(exc), 2, evidence)
    except InfraError as exc:
        return error_result("deploy", str(exc), 3, evidence)
    evidence.update(run.evidence)
    summary.update(
        {
            "verdict": verdict,
            "live": (run.evidence.get("switch") or {}).get("to") or run.evidence.get("live_before"),
        }
    )
    if run.evidence.get("judge"):  # the judge's bounds in the summary, so the audit trail's record keeps them
        from gates.deploy.bluegreen_judge import summary_of

        summary.update(summary_of(run.evidence["judge"]))
    unreachable = any(c.status is Status.ERROR for c in run.checks)  # the judge found no live colour: exit 3
    result = GateResult("deploy", checks=[*checks, *run.checks], evidence=evidence, summary=summary)
    result.exit_code_hint = 3 if unreachable else None
    return result
