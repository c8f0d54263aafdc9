"""`mlgate canary`: progressive delivery with analysis on Prometheus, then promote or roll back.

Exit codes: 0 promoted (or already promoted), 1 rolled back / held / interrupted, 2 bad configuration or a change
the cluster rejected, 3 Prometheus or the cluster unreachable (the canary is never promoted then).
"""

from __future__ import annotations

import click

from gates.commands.common import compact, parse_pairs
from gates.core.errors import InputError


def _steps(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(x) for x in value.replace(" ", "").split(",") if x]
    except ValueError:
        raise InputError(f"--steps {value!r}: expected percentages such as 10,25,50,100") from None


@click.command()
@click.option("--namespace", "-n", help="Namespace of the stable Deployment (default: default).")
@click.option("--deployment", help="The stable Deployment; the canary is <deployment>-canary.")
@click.option("--image", help="The new image the canary runs.")
@click.option("--container", help="Container whose image changes (default: the first).")
@click.option(
    "--env", "env", multiple=True, help="NAME=VALUE for the new version (canary and, once promoted, stable)."
)
@click.option("--canary-env", multiple=True, help="NAME=VALUE for the canary only (e.g. TRACK=canary).")
@click.option("--steps", help="Traffic steps in percent, e.g. 10,25,50,100.")
@click.option("--interval", help="Wait per step before its analysis, e.g. 60s.")
@click.option("--router", type=click.Choice(["replicas", "gateway_api", "nginx"]), help="Traffic router.")
@click.option("--prometheus-url", envvar="MLGATE_PROMETHEUS_URL", help="Prometheus base URL.")
@click.option("--window", help="Analysis window of series metrics (PromQL duration, e.g. 1m).")
@click.option(
    "--lookback",
    type=click.Choice(["growing", "window"]),
    help="Counted metrics cover everything since the canary started (growing, default) or the window.",
)
@click.option(
    "--judge",
    "judges",
    multiple=True,
    type=click.Choice(["sequential", "threshold", "compare"]),
    help="Judges to use (default sequential + threshold).",
)
@click.option("--failure-limit", type=int, help="Failed analyses in a row before rollback (default 1).")
@click.option("--no-data", type=click.Choice(["fail", "inconclusive"]), help="What no data means.")
@click.option(
    "--min-requests", type=float, help="Requests per track and window below which data is too thin."
)
@click.option("--rollout-timeout", help="Bound on every rollout wait (default 300s).")
@click.option(
    "--kubeconfig",
    type=click.Path(),
    help="Kubeconfig file (default: every file in KUBECONFIG, merged as kubectl does, else ~/.kube/config).",
)
@click.option("--context", help="Kubeconfig context.")
@click.option("--restart", is_flag=True, help="Start over a canary of the same image that was rolled back.")
@click.option(
    "--shadow/--no-shadow",
    default=None,
    help="Run the shadow stage (mirrored requests, no live traffic) before the canary (default canary.shadow.enabled).",
)
@click.pass_obj
def canary(
    session,
    namespace,
    deployment,
    image,
    container,
    env,
    canary_env,
    steps,
    interval,
    router,
    prometheus_url,
    window,
    lookback,
    judges,
    failure_limit,
    no_data,
    min_requests,
    rollout_timeout,
    kubeconfig,
    context,
    restart,
    shadow,
) -> int:
    """Canary rollout: steps of traffic, Prometheus analysis at every step, then promote or roll back.

    Re-running after an interruption resumes from the step recorded on the canary Deployment.
    """
    from gates.deploy.canary import run_canary

    analysis = compact(
        {
            "window": window,
            "lookback": lookback,
            "judges": list(judges) or None,
            "failure_limit": failure_limit,
            "no_data": no_data,
            "min_requests": min_requests,
        }
    )
    overrides = compact(
        {
            "namespace": namespace,
            "deployment": deployment,
            "image": image,
            "container": container,
            "env": parse_pairs(env, "--env", str) or None,
            "canary_env": parse_pairs(canary_env, "--canary-env", str) or None,
            "steps": _steps(steps),
            "interval": interval,
            "router": {"kind": router} if router else None,
            "prometheus": {"url": prometheus_url} if prometheus_url else None,
            "analysis": analysis or None,
            "rollout_timeout": rollout_timeout,
            "context": context,
            "restart": restart or None,
            "shadow": {"enabled": shadow} if shadow is not None else None,
        }
    )
    if session.policy.section("canary") is None and not overrides:
        raise InputError(f"{session.policy.source}: no 'canary' section, and no inputs given as flags")
    from gates.core.settings.canary import CanarySettings

    section = session.settings_of(CanarySettings, overrides)
    # $KUBECONFIG is left to gates.deploy.kube (a list of files, as kubectl reads it), as for deploy and rollback
    result = run_canary(section, kubeconfig=kubeconfig or None, log=lambda line: click.echo(line, err=True))
    return session.finish([result])
