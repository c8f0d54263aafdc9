"""What the monitor does about a regression, as the policy says: open a GitHub issue, notify, or start the
rollback workflow (workflow_dispatch). Each action runs once per regression (the state remembers it until the
check passes again), and an action that fails is reported, never hidden, and never turns an alarm into a pass.

GitHub endpoints (API 2022-11-28): ``POST /repos/{owner}/{repo}/issues`` (``issues: write``) and
``POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches`` (``actions: write``; 204 No Content).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gates.core.errors import InfraError, InputError
from gates.core.result import Check, Status

if TYPE_CHECKING:
    from gates.core.settings.monitor import MonitorSettings
    from gates.core.settings.notify import NotifySettings


def _client(env: Mapping[str, str]) -> tuple[Any, str]:
    from gates.core.github_api import GitHubClient, repository_from_env

    return GitHubClient.from_env(env), repository_from_env(env)


def issue_body(failed: list[Check], run_link: str | None) -> str:
    lines = ["mlgate monitor found a regression in production.", ""]
    lines += [f"- **{c.name}**: {c.why}" for c in failed]
    if run_link:
        lines += ["", f"Run: {run_link}"]
    lines += [
        "",
        "This issue was opened by `mlgate monitor`; close it once the model is fixed or rolled back.",
    ]
    return "\n".join(lines)


def take(
    actions: list[str],
    failed: list[Check],
    settings: MonitorSettings,
    notify_section: NotifySettings | None,
    message: Any,
    env: Mapping[str, str] | None = None,
) -> tuple[list[Check], dict[str, Any]]:
    """Run each action; returns one check per action and what to remember (issue URL, dispatched workflow)."""
    from gates.core.github_api import ApiError, run_url

    env = os.environ if env is None else env
    checks: list[Check] = []
    record: dict[str, Any] = {}
    for action in actions:
        try:
            if action == "issue":
                client, repository = _client(env)
                issue = settings.issue
                title = f"{issue.title_prefix} {', '.join(c.name for c in failed)} regressed"
                body: dict[str, Any] = {"title": title[:256], "body": issue_body(failed, run_url(env))}
                if issue.labels:
                    body["labels"] = list(issue.labels)
                created = client.request("POST", f"/repos/{repository}/issues", body=body).json()
                record["issue"] = created.get("html_url") or created.get("number")
                checks.append(Check("action issue", Status.PASS, f"opened issue {record['issue']}"))
            elif action == "rollback":
                client, repository = _client(env)
                rollback = settings.rollback
                if rollback is None:
                    raise InputError(
                        "monitor.rollback.workflow: name the rollback workflow file (e.g. rollback.yml)"
                    )
                workflow = quote(rollback.workflow, safe="")
                client.request(
                    "POST",
                    f"/repos/{repository}/actions/workflows/{workflow}/dispatches",
                    body={"ref": rollback.ref, "inputs": dict(rollback.inputs)},
                )
                record["rollback"] = rollback.workflow
                checks.append(
                    Check("action rollback", Status.PASS, f"dispatched workflow {rollback.workflow}")
                )
            elif action == "notify":
                from gates.notify.send import say, send

                if not notify_section:
                    raise InputError(
                        "monitor.on_regression names notify, but the policy has no notify section"
                    )
                deliveries = send(message, notify_section, env)
                say(deliveries)
                sent = [d for d in deliveries if d.sent]
                record["notified"] = len(sent)
                status = Status.PASS if deliveries and len(sent) == len(deliveries) else Status.WARN
                checks.append(
                    Check(
                        "action notify", status, f"{len(sent)} of {len(deliveries)} notifications delivered"
                    )
                )
        except ApiError as exc:
            checks.append(Check(f"action {action}", Status.ERROR, exc.describe()))
        except (InputError, InfraError) as exc:
            checks.append(Check(f"action {action}", Status.ERROR, str(exc)))
    return checks, record
