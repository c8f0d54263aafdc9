"""`mlgate github check-environment`: refuse to deploy into a GitHub Environment nobody has to approve.

A job that names an environment which does not exist makes GitHub create it, with no protection rules, when the
job starts: the deployment then runs without any reviewer. This check runs before the deploy job, reads the
environment (GET /repos/{owner}/{repo}/environments/{name}, the `actions: read` permission) and exits

- 0 when it has a `required_reviewers` protection rule with at least one reviewer (`protected=true`);
- 2 when it does not exist or nobody must approve (`protected=false`), or, with --allow-unprotected, 0 and a
  `::warning::`;
- 2 when the token may not read it (401 / 403), 3 when GitHub cannot be reached (5xx, connection errors).
"""

from __future__ import annotations

import os
from typing import Any

import click

from gates.core.errors import InfraError, InputError


@click.group()
def github() -> None:
    """Checks against the GitHub repository a workflow runs in."""


@github.command("check-environment")
@click.option("--name", required=True, help="The environment the deploy job names (e.g. production).")
@click.option(
    "--allow-unprotected",
    is_flag=True,
    help="Warn instead of failing when the environment is missing or has no required reviewers.",
)
def check_environment(name: str, allow_unprotected: bool) -> int:
    """Exit 0 when environment NAME exists and requires a reviewer's approval; 2 otherwise."""
    from gates.core import github_api as gh

    env = dict(os.environ)
    name = name.strip()
    if not name:
        raise InputError("--name: give the environment's name")
    client = gh.GitHubClient.from_env(env)
    repository = gh.repository_from_env(env)
    try:
        environment = client.get_environment(repository, name)
    except gh.ApiError as exc:
        _output(env, False)
        raise InputError(_refusal(exc, name, repository)) from None
    except InfraError:
        _output(env, False)
        raise

    if environment is None:
        problem = (
            f"environment {name!r} does not exist in {repository}: GitHub would create it without reviewers "
            "when the deploy job starts; create it with required reviewers, or pass --allow-unprotected"
        )
    else:
        reviewers = _reviewers(environment)
        if reviewers:
            _output(env, True)
            click.echo(f"mlgate: environment {name!r} is protected: {_describe(environment, reviewers)}")
            return 0
        kinds = sorted(
            {str(r.get("type")) for r in environment.get("protection_rules") or [] if r.get("type")}
        )
        problem = (
            f"environment {name!r} has no required reviewers (protection rules: {', '.join(kinds) or 'none'}): "
            "a deploy job would start without anyone's approval; add required reviewers, or pass "
            "--allow-unprotected"
        )
    _output(env, False)
    if not allow_unprotected:
        raise InputError(problem)
    from gates.formats.annotate import escape_data

    click.echo(f"::warning title=mlgate environment::{escape_data(problem)}")
    click.echo(f"mlgate: warning: {problem} (allowed by --allow-unprotected)", err=True)
    return 0


def _reviewers(environment: dict[str, Any]) -> list[str]:
    """Names of the reviewers of the environment's `required_reviewers` rules ('team slug' for teams)."""
    names: list[str] = []
    for rule in environment.get("protection_rules") or []:
        if not isinstance(rule, dict) or rule.get("type") != "required_reviewers":
            continue
        for entry in rule.get("reviewers") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("reviewer"), dict):
                continue
            who = entry["reviewer"]
            if entry.get("type") == "Team":
                names.append(f"team {who.get('slug') or who.get('name') or who.get('id')}")
            else:
                names.append(str(who.get("login") or who.get("id")))
    return names


def _describe(environment: dict[str, Any], reviewers: list[str]) -> str:
    parts = [f"required reviewers {', '.join(reviewers)}"]
    for rule in environment.get("protection_rules") or []:
        if isinstance(rule, dict) and rule.get("type") == "wait_timer" and rule.get("wait_timer"):
            parts.append(f"wait timer {rule['wait_timer']} min")
    policy = environment.get("deployment_branch_policy")
    if isinstance(policy, dict):
        parts.append(
            "deploys from protected branches only"
            if policy.get("protected_branches")
            else "deploys from branches matching its policies"
        )
    else:
        parts.append("deploys from any branch")
    if environment.get("can_admins_bypass"):
        parts.append("admins can bypass the rules")
    return "; ".join(parts)


def _refusal(exc: Any, name: str, repository: str) -> str:
    if exc.status == 401:
        return (
            f"GitHub rejected GITHUB_TOKEN reading environment {name!r} (HTTP 401: {exc.message}): pass the job's "
            "token as env: GITHUB_TOKEN: ${{ github.token }}"
        )
    if exc.status == 403:
        accepted = f"; GitHub accepts {exc.accepted_permissions}" if exc.accepted_permissions else ""
        return (
            f"GITHUB_TOKEN may not read environment {name!r} in {repository} (HTTP 403: {exc.message}{accepted}): "
            "give the job `permissions: actions: read` (Get an environment needs the Actions repository "
            "permission, read; a classic personal token needs the repo scope on a private repository)"
        )
    return f"reading environment {name!r}: {exc.describe()}"


def _output(env: dict[str, str], protected: bool) -> None:
    """The step output `protected=true|false` (a fixed word, so the plain NAME=VALUE form is safe)."""
    target = env.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(f"protected={'true' if protected else 'false'}\n")
