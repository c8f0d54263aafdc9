"""`mlgate notify`: send a report's verdict to the policy's notification targets (Slack, Teams, webhook).

    mlgate notify --policy gates.yml --report mlgate-reports/mlgate.json

For a step that runs after the gates (`if: always()`), when the gates ran in another job or tool. Commands that
write a report notify by themselves when the policy's `notify.after_commands` is on (the default).

Exit codes: 0 sent, or nothing to send, or a delivery failed without --strict (a warning: a notification never
changes a verdict); 2 no notify section, or the report is missing or not an mlgate report; 3 a delivery failed
and --strict was given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from gates.core.errors import InfraError, InputError


@click.command()
@click.option(
    "--report",
    "report_path",
    required=True,
    type=click.Path(path_type=Path),
    help="JSON report written by an mlgate command (e.g. mlgate-reports/mlgate.json).",
)
@click.option(
    "--always", is_flag=True, help="Send to every target, whatever its `statuses` and `events` say."
)
@click.option("--strict", is_flag=True, help="Exit 3 when a notification could not be delivered.")
@click.pass_obj
def notify(session, report_path: Path, always: bool, strict: bool) -> int:
    """Send the verdict of REPORT to the policy's notify targets; URLs come from environment variables."""
    from gates.core.github_api import run_url
    from gates.core.settings.notify import NotifySettings
    from gates.notify import from_report, send
    from gates.notify.send import say

    if not session.policy.section("notify"):
        raise InputError(f"{session.policy.source}: no 'notify' section (targets with url_env) to send to")
    settings = session.settings_of(NotifySettings)
    try:
        document = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{report_path}: report not found") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{report_path}: not a JSON report ({type(exc).__name__})") from None
    message = from_report(document, link=run_url(os.environ), source=str(report_path))
    deliveries = send(message, settings, force=always)
    if not deliveries:
        click.echo(f"mlgate: no target wants a {message.status} {message.event} message: nothing sent")
        return 0
    say(deliveries)
    failed = [d for d in deliveries if not d.sent]
    if failed and strict:
        raise InfraError(
            f"{len(failed)} of {len(deliveries)} notifications not delivered: {failed[0].target}"
        )
    return 0
