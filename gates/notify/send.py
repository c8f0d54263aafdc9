"""Send one Message to every target of the policy's `notify` section that wants it, and the hook that does so
after a command has written its report.

A notification is a courtesy, never a verdict: every failure here (unset variable, refused URL, receiver down)
becomes one warning line and the command's exit code stays what the gates decided.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import click

from gates.core.errors import log_safe
from gates.core.settings.notify import NotifySettings
from gates.notify import slack, teams, webhook
from gates.notify.common import Delivery, Message, Redactor, RetryPolicy, check_url, post_json

PAYLOADS: dict[str, Callable[[Message], Any]] = {
    "slack": slack.payload,
    "teams": teams.payload,
    "webhook": webhook.payload,
}


def retry_policy(settings: NotifySettings) -> RetryPolicy:
    return RetryPolicy(
        retries=settings.retries,
        backoff=settings.backoff_seconds,
        max_wait=settings.max_wait_seconds,
        timeout=settings.timeout_seconds,
    )


def send(
    message: Message,
    section: NotifySettings | Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    force: bool = False,
) -> list[Delivery]:
    """Deliver `message` to each target that wants it (every target with `force`). Never raises for delivery
    trouble; the returned Deliveries say what happened, with every secret redacted."""
    env = os.environ if env is None else env
    settings = NotifySettings.of(section, "notify settings")
    policy = retry_policy(settings)
    redact = Redactor()
    targets = [t for t in settings.targets if force or t.wants(message.status, message.event)]
    for target in targets:  # every secret first, so no line about any target can show another's
        if env.get(target.url_env):
            redact.add(env[target.url_env])
        for variable in target.headers_env.values():
            if env.get(variable):
                redact.add(env[variable])
    out: list[Delivery] = []
    for target in targets:
        name = target.label()
        url = (env.get(target.url_env) or "").strip()
        if not url:
            out.append(Delivery(name, False, 0, f"{target.url_env} is not set or empty: not sent"))
            continue
        problem = check_url(url)
        if problem:
            out.append(Delivery(name, False, 0, f"the URL in {target.url_env} {problem}: not sent"))
            continue
        headers = {}
        missing = []
        for header, variable in target.headers_env.items():
            if env.get(variable):
                headers[header] = env[variable]
            else:
                missing.append(variable)
        if missing:
            out.append(Delivery(name, False, 0, f"{', '.join(missing)} not set (headers_env): not sent"))
            continue
        sent, attempts, why = post_json(
            url,
            PAYLOADS[target.kind](message),
            policy=policy,
            redact=redact,
            headers=headers,
            sleep=sleep,
        )
        out.append(Delivery(name, sent, attempts, redact(why)))
    return out


def say(deliveries: list[Delivery], echo: Callable[[str], None] | None = None) -> None:
    """One line per target on stdout (stderr stays for the command's own error line)."""
    echo = echo or click.echo
    for d in deliveries:
        tries = f" after {d.attempts} attempts" if d.attempts > 1 else ""
        if d.sent:
            echo(log_safe(f"mlgate: notified {d.target}{tries}"))
        else:
            echo(log_safe(f"mlgate: warning: notification to {d.target} failed: {d.why}"))


def after_command(policy: Any, results: list[Any], env: Mapping[str, str] | None = None) -> list[Delivery]:
    """The hook every command runs once its reports are written, when the policy has a `notify` section with
    `after_commands` left on. Whatever goes wrong is a warning: the verdict is already decided."""
    section = policy.section("notify") if policy is not None else None
    # the monitor notifies through its own on_regression (once per regression, not once per scheduled run)
    results = [r for r in results if r.gate != "monitor"]
    if not section or not results:
        return []
    env = os.environ if env is None else env
    try:
        settings = NotifySettings.of(section, policy.source)
        if not settings.after_commands:
            return []
        from gates.core.github_api import run_url
        from gates.formats.json_report import document
        from gates.notify.message import from_report

        message = from_report(document(results), link=run_url(env), source="results")
        deliveries = send(message, settings, env)
    except Exception as exc:  # noqa: BLE001 - a notification never changes a verdict, whatever broke
        click.echo(f"mlgate: warning: notifications skipped ({type(exc).__name__})")
        return []
    say(deliveries)
    return deliveries
