"""Shadow traffic (``mlgate shadow``): a share of live requests is mirrored to the candidate, whose answers go
nowhere, and the candidate is compared with stable on those same requests before any user sees it.

Why before the canary: a canary shows the candidate to real users while it is judged; a shadow judges it on real
inputs without that risk (a crash, a wrong class, a slow answer hurt no one), so a candidate that disagrees with
stable or fails is stopped earlier, and the canary that follows starts from a candidate known to behave.

Mirroring, by router (the candidate's answers are always discarded by whoever mirrors):

- ``gateway_api``: a ``RequestMirror`` filter on the HTTPRoute rule, ``percent`` of the requests to the
  candidate Service (:func:`gateway_mirror`; Gateway API v1.2+ for ``percent``);
- ``nginx``: the ingress-nginx ``mirror-target`` annotation on the Ingress (:func:`nginx_mirror`); ingress-nginx
  mirrors every request (no sampling), so the share must be 100;
- ``replicas`` (no mesh): the example service's tee (examples/service/shadow.py), switched on by
  ``SHADOW_URL`` / ``SHADOW_PERCENT`` / ``SHADOW_TIMEOUT_MS`` in the stable pods' environment
  (:func:`tee_env`); it posts a copy after the primary answer is built, fire and forget with a timeout.

Comparison (:func:`tee_observations`, :func:`judge_shadow`), from the tee's metrics, so both sides are the same
requests: the candidate's errors (answers >= 400) against the primary's on the mirrored requests both answered
(copies that timed out, found the candidate unreachable or were dropped by the tee's cap are counted in the
evidence, not as the candidate's errors: on a busy node the copy's path fails before the candidate does), and its latency histogram against the primary's, by the sequential judge (anytime-valid, as the
canary's, so a shadow can be looked at every few seconds); the share of items whose predicted class differs
(``max_disagreement``, bounded anytime-valid); the score distribution's shift (Kolmogorov-Smirnov distance of the
score histograms, ``max_score_shift``). Latency is each side's own time to answer (the candidate's from
its ``Server-Timing`` header), so the hop to the candidate does not count against it; ``min_effect`` (5 ms)
leaves out what two replicas of one build differ by on a busy node.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.deploy.evidence import Counts, Histogram
from gates.deploy.judges import JudgeVerdict, Observation, combine, threshold_judge
from gates.deploy.prometheus import NoData, PrometheusClient
from gates.deploy.queries import MetricSpec, metric_specs
from gates.deploy.sequential import SequentialSettings, sequential_judge

MIRROR_FILTER = "RequestMirror"
NGINX_MIRROR = "nginx.ingress.kubernetes.io/mirror-target"
NGINX_MIRROR_BODY = "nginx.ingress.kubernetes.io/mirror-request-body"


# -- mirroring --------------------------------------------------------------------------------------------------
def _percent(percent: float) -> int:
    if not (isinstance(percent, (int, float)) and 0 < percent <= 100 and float(percent).is_integer()):
        raise InputError(f"shadow.percent {percent!r}: expected a whole percentage in 1..100")
    return int(percent)


def gateway_mirror(
    route: Mapping[str, Any], rule: int, service: str, port: int, percent: float
) -> dict[str, Any]:
    """The HTTPRoute with a RequestMirror filter to ``service:port`` on rule ``rule`` (a mirror filter to the
    same backend is replaced, others are kept), mirroring ``percent`` of that rule's requests."""
    if route.get("kind") != "HTTPRoute":
        raise InputError(f"shadow: expected an HTTPRoute, got kind {route.get('kind')!r}")
    rules = (route.get("spec") or {}).get("rules") or []
    if not 0 <= rule < len(rules):
        raise InputError(f"shadow: HTTPRoute {route.get('metadata', {}).get('name')!r} has no rule {rule}")
    out = copy.deepcopy(dict(route))
    target = out["spec"]["rules"][rule]
    kept = [
        f
        for f in target.get("filters") or []
        if not (
            f.get("type") == MIRROR_FILTER
            and (f.get("requestMirror") or {}).get("backendRef", {}).get("name") == service
        )
    ]
    mirror = {"backendRef": {"name": service, "port": int(port)}, "percent": _percent(percent)}
    target["filters"] = [*kept, {"type": MIRROR_FILTER, "requestMirror": mirror}]
    return out


def gateway_unmirror(route: Mapping[str, Any], rule: int, service: str) -> dict[str, Any]:
    """The HTTPRoute without the mirror filter to ``service`` (what ends a shadow)."""
    out = copy.deepcopy(dict(route))
    target = out["spec"]["rules"][rule]
    target["filters"] = [
        f
        for f in target.get("filters") or []
        if not (
            f.get("type") == MIRROR_FILTER
            and (f.get("requestMirror") or {}).get("backendRef", {}).get("name") == service
        )
    ]
    if not target["filters"]:
        del target["filters"]
    return out


def candidate_url(service: str, namespace: str, port: int) -> str:
    return f"http://{service}.{namespace}.svc.cluster.local:{int(port)}"


def nginx_mirror(ingress: Mapping[str, Any], url: str, percent: float = 100) -> dict[str, Any]:
    """The Ingress with the ingress-nginx mirror annotations: every request's copy to ``url`` + the original
    path and query, body included."""
    if ingress.get("kind") != "Ingress":
        raise InputError(f"shadow: expected an Ingress, got kind {ingress.get('kind')!r}")
    if _percent(percent) != 100:
        raise InputError(
            f"shadow.percent {percent}: ingress-nginx mirrors every request (no sampling); use 100, or the "
            "gateway_api or replicas router to mirror a share"
        )
    out = copy.deepcopy(dict(ingress))
    annotations = out.setdefault("metadata", {}).setdefault("annotations", {}) or {}
    annotations.update({NGINX_MIRROR: url.rstrip("/") + "$request_uri", NGINX_MIRROR_BODY: "on"})
    out["metadata"]["annotations"] = annotations
    return out


def tee_env(url: str, percent: float, timeout_ms: int = 1000) -> dict[str, str]:
    """The stable pods' environment that switches the example service's tee on."""
    return {
        "SHADOW_URL": url,
        "SHADOW_PERCENT": str(_percent(percent)),
        "SHADOW_TIMEOUT_MS": str(int(timeout_ms)),
    }


# -- comparison -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShadowLimits:
    max_disagreement: float = 0.02  # share of mirrored items whose predicted class differs
    max_score_shift: float = 0.1  # Kolmogorov-Smirnov distance between the score histograms
    min_effect: float = 0.005  # latency: seconds of slow-down never a regression (the tee's extra hop)
    min_requests: float = 20


def shadow_specs(limits: ShadowLimits) -> list[MetricSpec]:
    """The metrics a shadow is judged on (the candidate is the ``canary`` side, the primary the ``stable``)."""
    return metric_specs(
        [
            {
                "name": "shadow_errors",
                "kind": "ratio",
                "numerator": "-",
                "denominator": "-",
                "critical": True,
                "min_effect": 0.005,  # as the canary's error_rate: half a point is never a regression
            },
            {
                "name": "shadow_latency_p95",
                "kind": "quantile",
                "buckets": "-",
                "quantile": 0.95,
                "min_effect": limits.min_effect,
            },
            {
                "name": "shadow_disagreement",
                "kind": "ratio",
                "numerator": "-",
                "denominator": "-",
                "max": limits.max_disagreement,
                "compare": False,
            },
            {
                "name": "shadow_score_shift",
                "kind": "distribution",
                "buckets": "-",
                "max": limits.max_score_shift,
                "compare": False,
            },
        ]
    )


def _selector(namespace: str, deployment: str) -> str:
    return f'namespace="{namespace}",deployment="{deployment}"'


def tee_queries(namespace: str, deployment: str, lookback: str) -> dict[str, str]:
    """PromQL over the tee's metrics (on the stable pods), ``{side}`` left for primary / candidate."""
    sel = _selector(namespace, deployment)
    return {
        "requests": f'sum(increase(model_shadow_requests_total{{{sel},side="{{side}}",outcome=~"ok|error"}}[{lookback}]))',
        "errors": f'sum(increase(model_shadow_requests_total{{{sel},side="{{side}}",outcome="error"}}[{lookback}]))',
        "lost": f'sum(increase(model_shadow_requests_total{{{sel},side="candidate",outcome!~"ok|error"}}[{lookback}]))',
        "latency": f'sum by (le) (increase(model_shadow_latency_seconds_bucket{{{sel},side="{{side}}"}}[{lookback}]))',
        "score": f'sum by (le) (increase(model_shadow_score_bucket{{{sel},side="{{side}}"}}[{lookback}]))',
        "disagree": f'sum(increase(model_shadow_agreement_total{{{sel},agree="false"}}[{lookback}]))',
        "compared": f"sum(increase(model_shadow_agreement_total{{{sel}}}[{lookback}]))",
    }


def _histogram(prom: PrometheusClient, query: str, at: float) -> Histogram | None:
    series = prom.query(query, at=at)
    buckets = {
        (math.inf if s.labels.get("le") == "+Inf" else float(s.labels["le"])): s.value
        for s in series
        if "le" in s.labels and math.isfinite(s.value)
    }
    return Histogram.from_buckets(buckets) if buckets else None


def _scalar(prom: PrometheusClient, query: str, at: float) -> float | None:
    try:
        return prom.value(query, at=at)
    except NoData:
        return None


def tee_observations(
    prom: PrometheusClient, namespace: str, deployment: str, lookback: str, at: float, limits: ShadowLimits
) -> tuple[list[Observation], list[dict[str, Any]]]:
    """One look at the tee's counters: the observations (candidate as ``canary``, primary as ``stable``) and
    the record of every query and value. InfraError propagates; missing series leave a side without data."""
    queries = tee_queries(namespace, deployment, lookback)
    specs = {s.name: s for s in shadow_specs(limits)}
    records: list[dict[str, Any]] = []
    samples: dict[str, dict[str, Counts | Histogram | None]] = {name: {} for name in specs}
    for side, label in (("canary", "candidate"), ("stable", "primary")):
        q = {k: v.replace("{side}", label) for k, v in queries.items()}
        requests, errors = _scalar(prom, q["requests"], at), _scalar(prom, q["errors"], at)
        samples["shadow_errors"][side] = Counts(errors or 0.0, requests) if requests else None
        samples["shadow_latency_p95"][side] = _histogram(prom, q["latency"], at)
        samples["shadow_score_shift"][side] = _histogram(prom, q["score"], at)
        records += [
            {"side": side, "query": q["requests"], "value": requests},
            {"side": side, "query": q["errors"], "value": errors},
        ]
    disagree, compared = _scalar(prom, queries["disagree"], at), _scalar(prom, queries["compared"], at)
    lost = _scalar(prom, queries["lost"], at)  # copies that never got an answer: evidence, not errors
    records += [
        {"query": queries["disagree"], "value": disagree},
        {"query": queries["compared"], "value": compared},
        {"query": queries["lost"], "value": lost},
    ]
    # the primary agrees with itself: the stable side of the disagreement is its own trials with no event
    samples["shadow_disagreement"] = (
        {"canary": Counts(disagree or 0.0, compared), "stable": Counts(0.0, compared)} if compared else {}
    )
    observations = []
    for name, spec in specs.items():
        obs = Observation(spec, queries={"tee": queries.get(name, "")})
        obs.canary_sample, obs.stable_sample = samples[name].get("canary"), samples[name].get("stable")
        for side in ("canary", "stable"):
            sample = obs.sample(side)
            total = sample.trials if isinstance(sample, Counts) else sample.total if sample else 0.0
            if sample is None:
                obs.missing[side] = "no mirrored requests counted (is the tee on?)"
            elif total < limits.min_requests:
                obs.thin[side] = (
                    f"too little traffic ({total:.0f} mirrored, min_requests {limits.min_requests:g})"
                )
        observations.append(obs)
    return observations, records


def judge_shadow(
    observations: Sequence[Observation],
    settings: SequentialSettings,
    previous: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> tuple[str, list[JudgeVerdict]]:
    """(outcome, verdicts) of one look: the sequential judge on errors, latency and disagreement; the threshold
    judge on the score shift (a distance with its own interval)."""
    verdicts = [v for v in (sequential_judge(observations, settings, previous),) if v]
    rest = [o for o in observations if o.metric.kind == "distribution"]
    if rest:
        v = threshold_judge(rest, settings.no_data, 1 - settings.alpha, final=settings.final)
        if v:
            verdicts.append(v)
    return combine([v.outcome for v in verdicts]), verdicts


# -- the stage --------------------------------------------------------------------------------------------------
def run_shadow(
    prom: PrometheusClient,
    namespace: str,
    deployment: str,
    limits: ShadowLimits,
    duration: float,
    interval: float,
    settings: SequentialSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    log: Callable[[str], None] = print,
) -> GateResult:
    """Look at the mirrored traffic every ``interval`` seconds for at most ``duration``: stop at the first
    certain regression (fail); at the end, pass when every metric passed, else fail for want of evidence (a
    shadow that proved nothing never lets a candidate on). The mirror itself is on already (router or tee)."""
    started = clock()
    previous: dict[str, list[dict[str, Any]]] = {}
    looks: list[dict[str, Any]] = []
    outcome, verdicts = "inconclusive", list[JudgeVerdict]()
    while True:
        sleep(interval)
        now = clock()
        final = now - started + interval > duration
        lookback = f"{max(int(interval), math.ceil(now - started))}s"
        observations, records = tee_observations(prom, namespace, deployment, lookback, now, limits)
        look_settings = dataclasses.replace(settings or SequentialSettings(), final=final)
        outcome, verdicts = judge_shadow(observations, look_settings, previous)
        for v in verdicts:
            for m in v.metrics:
                if "look" in m.details:
                    previous.setdefault(m.metric, []).append(m.details["look"])
        why = "; ".join(f"{v.judge}: {v.outcome} ({v.why})" for v in verdicts)
        looks.append({"at": round(now - started, 1), "outcome": outcome, "why": why, "queries": records})
        log(f"shadow: {now - started:.0f}s: {outcome}: {why}")
        if outcome == "fail" or final:
            break
    status = Status.PASS if outcome == "pass" else Status.FAIL
    checks = [
        Check(
            name=m.metric,
            status=Status.WARN if m.passed is None else Status.PASS if m.passed else Status.FAIL,
            why=m.why,
            value=m.value,
            details=m.details,
        )
        for v in verdicts
        for m in v.metrics
    ]
    verdict_why = {
        "pass": "the candidate matched stable on the mirrored requests",
        "fail": "the candidate regressed on the mirrored requests" if outcome == "fail" else "",
    }.get(outcome) or f"not enough evidence after {duration:.0f} s of mirrored traffic ({outcome})"
    checks.append(Check(name="verdict", status=status, value=outcome, why=verdict_why))
    return GateResult(
        gate="shadow",
        checks=checks,
        evidence={"namespace": namespace, "deployment": deployment, "looks": looks, "prometheus": prom.url},
        summary={"verdict": outcome, "looks": len(looks), "reason": verdict_why},
    )
