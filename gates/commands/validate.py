"""`mlgate validate-deployment`: post-deploy validation of a live endpoint."""

from __future__ import annotations

from pathlib import Path

import click

from gates.commands.common import absolute, bootstrap_options, bootstrap_overrides, compact, parse_pairs
from gates.core.errors import InfraError, InputError


@click.command("validate-deployment")
@click.option("--url", help="Base URL of the deployed service, e.g. http://credit-model.staging.svc.")
@click.option("--golden", type=click.Path(path_type=Path), help="Golden predictions (JSON Lines).")
@click.option("--requests", "requests_", type=int, help="Requests in the burst (default 500).")
@click.option("--concurrency", type=int, help="Requests in flight at once (default 4).")
@click.option("--max-error-rate", type=float, help="Highest share of failed burst requests (default 0.01).")
@click.option("--max-p95", type=float, help="Highest p95 latency in ms (default 500).")
@click.option("--max-p99", type=float, help="Highest p99 latency in ms (default 1000).")
@click.option(
    "--timeout", "wait", type=float, help="Seconds to wait for /health and /ready to answer 200 (default 30)."
)
@click.option("--request-timeout", type=float, help="Seconds per request (default 5).")
@click.option("--max-duration", type=float, help="Bound on the burst's wall time in seconds (default 120).")
@click.option("--max-batch", type=int, help="The service's batch limit (default 100).")
@click.option(
    "--bad-requests/--no-bad-requests",
    default=None,
    help="Send malformed requests and require clear 4xx answers (default on).",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    help="Extra request header; ${VAR} in VALUE is read from the environment (repeatable).",
)
@bootstrap_options
@click.pass_obj
def validate_deployment(
    session,
    url,
    golden,
    requests_,
    concurrency,
    max_error_rate,
    max_p95,
    max_p99,
    wait,
    request_timeout,
    max_duration,
    max_batch,
    bad_requests,
    headers,
    confidence,
    resamples,
    seed,
    decide_on,
) -> int:
    """Validate a live endpoint: health, readiness, golden predictions, error rate and p95 / p99 latency of
    a bounded burst (with intervals), and clear 4xx answers to malformed requests."""
    from gates.core.result import error_result
    from gates.deploy.validate import GATE, run

    overrides = compact(
        {
            "url": url,
            "golden": absolute(golden),
            "requests": requests_,
            "concurrency": concurrency,
            "max_error_rate": max_error_rate,
            "max_p95_ms": max_p95,
            "max_p99_ms": max_p99,
            "wait_seconds": wait,
            "request_timeout_seconds": request_timeout,
            "max_duration_seconds": max_duration,
            "max_batch": max_batch,
            "bad_requests": bad_requests,
            "headers": parse_pairs(headers, "--header", str) or None,
        }
    )
    overrides.update(bootstrap_overrides(confidence, resamples, seed, decide_on))
    from gates.core.settings.delivery import ValidateSettings

    section = session.settings_of(ValidateSettings, overrides)
    if not section.url:
        raise InputError(f"{session.policy.source}: no --url and no validate_deployment.url")
    ctx = session.context()
    try:
        result = run(section, ctx, progress=lambda line: click.echo(f"mlgate: {line}", err=True))
    except InputError as exc:
        result = error_result(GATE, str(exc), 2)
    except InfraError as exc:
        result = error_result(GATE, str(exc), 3)
    result.evidence.setdefault("inputs", dict(ctx.inputs))
    return session.finish([result])
