"""`mlgate shadow`: shadow traffic before a canary. ``render`` prints the mirror configuration for the router
(an HTTPRoute with a RequestMirror filter, an Ingress with the ingress-nginx mirror annotations, or the stable
pods' environment for the example service's tee); ``analyse`` compares the candidate with stable on the mirrored
requests with the sequential judge until a regression is certain or the duration is up.

Exit codes: 0 the candidate matched stable, 1 it regressed or too little evidence, 2 bad input, 3 Prometheus
unreachable.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from gates.commands.common import compact
from gates.core.errors import InputError


@click.group()
def shadow() -> None:
    """Shadow traffic: mirror a share of requests to the candidate and compare it with stable."""


@shadow.command()
@click.option(
    "--router", type=click.Choice(["gateway_api", "nginx", "replicas"]), required=True, help="How to mirror."
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="gateway_api: the HTTPRoute; nginx: the Ingress (YAML or JSON, one object).",
)
@click.option("--rule", type=int, default=0, show_default=True, help="gateway_api: the HTTPRoute rule.")
@click.option("--service", required=True, help="The candidate's Service.")
@click.option(
    "--namespace", "-n", default="default", show_default=True, help="The candidate Service's namespace."
)
@click.option("--port", type=int, default=80, show_default=True, help="The candidate Service's port.")
@click.option("--percent", type=int, help="Share of requests mirrored (default: the policy's, else 100).")
@click.pass_obj
def render(session, router, manifest, rule, service, namespace, port, percent) -> int:
    """Print the mirror configuration (JSON) to apply with kubectl or mlgate deploy."""
    from gates.core import yamlsafe
    from gates.core.settings.canary import CanarySettings
    from gates.deploy.shadow import candidate_url, gateway_mirror, nginx_mirror, tee_env

    settings = session.settings_of(CanarySettings, {}) if session.policy.section("canary") else None
    share = percent if percent is not None else (settings.shadow.percent if settings else 100)
    url = candidate_url(service, namespace, port)
    if router == "replicas":
        click.echo(json.dumps({"env": tee_env(url, share)}, indent=2))
        return 0
    if manifest is None:
        raise InputError(
            f"--manifest is required with --router {router} (the {'HTTPRoute' if router == 'gateway_api' else 'Ingress'})"
        )
    try:
        obj = yamlsafe.load(manifest.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{manifest}: not a YAML or JSON object: {str(exc).splitlines()[0]}") from None
    if not isinstance(obj, dict):
        raise InputError(f"{manifest}: expected one Kubernetes object")
    out = (
        gateway_mirror(obj, rule, service, port, share)
        if router == "gateway_api"
        else nginx_mirror(obj, url, share)
    )
    click.echo(json.dumps(out, indent=2))
    return 0


@shadow.command()
@click.option(
    "--namespace", "-n", help="Namespace of the stable Deployment (default: the policy's canary one)."
)
@click.option("--deployment", help="The stable Deployment whose pods tee (default: the policy's).")
@click.option("--prometheus-url", envvar="MLGATE_PROMETHEUS_URL", help="Prometheus base URL.")
@click.option("--duration", help="How long the shadow lasts at most (e.g. 10m).")
@click.option("--interval", help="Time between looks (e.g. 30s).")
@click.option("--max-disagreement", type=float, help="Share of predicted classes allowed to differ.")
@click.option("--max-score-shift", type=float, help="KS distance allowed between score distributions.")
@click.pass_obj
def analyse(
    session, namespace, deployment, prometheus_url, duration, interval, max_disagreement, max_score_shift
) -> int:
    """Compare the candidate with stable on the mirrored requests until a regression is certain or time is up."""
    from gates.core.settings.canary import CanarySettings
    from gates.deploy.canary.config import parse_duration
    from gates.deploy.prometheus import PrometheusClient
    from gates.deploy.sequential import SequentialSettings
    from gates.deploy.shadow import ShadowLimits, run_shadow

    overrides = compact(
        {
            "namespace": namespace,
            "deployment": deployment,
            "prometheus": {"url": prometheus_url} if prometheus_url else None,
            "shadow": compact(
                {
                    "duration": duration,
                    "interval": interval,
                    "max_disagreement": max_disagreement,
                    "max_score_shift": max_score_shift,
                }
            )
            or None,
        }
    )
    settings = session.settings_of(CanarySettings, overrides)
    if not settings.deployment:
        raise InputError("canary.deployment is required (policy or --deployment)")
    if not settings.prometheus.url:
        raise InputError(
            "canary.prometheus.url is required (policy, --prometheus-url or MLGATE_PROMETHEUS_URL)"
        )
    s, seq = settings.shadow, settings.analysis.sequential
    prom = PrometheusClient(
        settings.prometheus.url,
        timeout=parse_duration(settings.prometheus.timeout, "canary.prometheus.timeout"),
        retries=settings.prometheus.retries,
        backoff=settings.prometheus.backoff,
    )
    result = run_shadow(
        prom,
        settings.namespace,
        settings.deployment,
        ShadowLimits(s.max_disagreement, s.max_score_shift, s.min_effect, settings.analysis.min_requests),
        parse_duration(s.duration, "canary.shadow.duration"),
        parse_duration(s.interval, "canary.shadow.interval"),
        SequentialSettings(alpha=seq.alpha, tolerance=seq.tolerance, margin=seq.margin, scale=seq.scale),
        log=lambda line: click.echo(line, err=True),
    )
    return session.finish([result])
