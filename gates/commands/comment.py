"""`mlgate comment`: one pull-request comment per workflow with the gates' verdicts, updated in place.

The comment reports; it never decides. A comment GitHub refuses (a pull request from a fork gets a read-only
token; a job without `pull-requests: write`) or cannot take (GitHub down) is a `::warning::` and exit 0, so the
gates' verdict stays the only thing that fails the job, unless --strict. Missing inputs (no token, no pull
request number, no reports) are configuration errors: exit 2.

With --previous (the JSON report of an earlier run, say the base branch's), the comment also says what changed
since that run, under the verdict table. A previous report that cannot be read still lets the comment go up
(with a line saying why there is no diff), then exits 2 like any unreadable input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gates.core.errors import InfraError, InputError

if TYPE_CHECKING:
    from gates.formats.comment import GateRow


@click.command()
@click.option(
    "--reports",
    "reports",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="An mlgate JSON report, or a folder searched recursively for them (repeatable).",
)
@click.option(
    "--workflow",
    required=True,
    help="Name that tells this workflow's comment from others' (usually ${{ github.workflow }}).",
)
@click.option(
    "--pr",
    "pr",
    type=click.IntRange(min=1),
    help="Pull request number (default: pull_request.number of the event in GITHUB_EVENT_PATH).",
)
@click.option(
    "--previous",
    type=click.Path(path_type=Path),
    help="An earlier run's JSON report (e.g. the base branch's mlgate.json): show what changed since it.",
)
@click.option("--dry-run", is_flag=True, help="Print the comment's body; call no API.")
@click.option(
    "--strict",
    is_flag=True,
    help="Fail when the comment cannot be posted (exit 2 refused, 3 GitHub unreachable) instead of warning.",
)
def comment(
    reports: tuple[Path, ...],
    workflow: str,
    pr: int | None,
    previous: Path | None,
    dry_run: bool,
    strict: bool,
) -> int:
    """Create or update the pull request's mlgate comment for this workflow from the JSON reports."""
    from gates.core import github_api as gh
    from gates.formats.comment import marker, read_reports, render

    env = dict(os.environ)
    tag = marker(workflow)  # an empty name is exit 2 before anything else

    client = repository = number = None
    if not dry_run:
        client = gh.GitHubClient.from_env(env)
        repository = gh.repository_from_env(env)
        number = gh.pull_request_number(env, pr)
        if number is None:
            raise InputError(
                "no pull request to comment on: pass --pr N, or run on a pull_request event "
                "(GITHUB_EVENT_PATH holds no pull_request.number)"
            )

    problem = None
    try:
        rows = read_reports(list(reports))
        if not rows:
            problem = (
                f"no mlgate JSON reports under {', '.join(map(str, reports))}: the gates stopped before "
                "writing them, or --reports points elsewhere"
            )
    except InputError as exc:
        rows, problem = [], str(exc)
    changes: str | None = None
    unreadable: str | None = None
    if previous is not None and rows and not problem:
        changes, unreadable = _changes(previous, rows)
    body = render(
        rows, workflow, run_url=gh.run_url(env), sha=gh.head_sha(env), problem=problem, changes=changes
    )

    problem = problem or unreadable  # raised once the comment is up: it must not keep an old verdict
    if dry_run:
        click.echo(body, nl=False)
        if problem:
            raise InputError(problem)
        return 0

    assert client is not None and repository is not None and number is not None
    try:
        done = gh.upsert_comment(client, repository, number, tag, body)
    except gh.ApiError as exc:
        why = _refusal(exc, repository, number)
        if strict:
            raise InputError(f"the pull request comment could not be posted: {why}") from None
        _warn(f"the pull request comment could not be posted: {why}; the gates' verdict is unchanged")
        _outputs(env, {"comment": "skipped"})
    except InfraError as exc:
        if strict:
            raise
        _warn(f"the pull request comment could not be posted: {exc}; the gates' verdict is unchanged")
        _outputs(env, {"comment": "skipped"})
    else:
        url = str(done.comment.get("html_url") or "")
        click.echo(f"mlgate: comment {done.action} on {repository}#{number}: {url}".rstrip(": "))
        if done.others:
            click.echo(f"mlgate: {done.others} older comment(s) of this workflow left as they are")
        _outputs(
            env, {"comment": done.action, "comment-id": str(done.comment.get("id", "")), "comment-url": url}
        )
    if problem:
        raise InputError(problem)
    return 0


def _changes(previous: Path, rows: list[GateRow]) -> tuple[str, str | None]:
    """(Markdown for the comment, the problem when the previous report cannot be read)."""
    from gates.formats import report_diff
    from gates.formats.comment import current_report, diff_markdown

    try:
        old = report_diff.load(previous)
    except InputError as exc:
        problem = f"--previous {exc}"
        return f"Changes since the previous run: not shown ({problem}).", problem
    return diff_markdown(report_diff.compare(old, current_report(rows), previous, "--reports")), None


def _refusal(exc: object, repository: str, number: int) -> str:
    from gates.core.github_api import ApiError

    assert isinstance(exc, ApiError)
    if exc.status == 401:
        return f"GitHub rejected GITHUB_TOKEN (HTTP 401: {exc.message})"
    if exc.status == 403:
        return (
            f"{exc.describe()}: the job needs `permissions: pull-requests: write`, and a pull request from a "
            "fork only ever gets a read-only token"
        )
    if exc.status == 404:
        return f"{exc.describe()}: no pull request #{number} in {repository}, or the token cannot see it"
    return exc.describe()


def _warn(message: str) -> None:
    from gates.formats.annotate import escape_data

    click.echo(f"::warning title=mlgate comment::{escape_data(message)}")
    click.echo(f"mlgate: warning: {message}", err=True)


def _outputs(env: dict[str, str], values: dict[str, str]) -> None:
    target = env.get("GITHUB_OUTPUT")
    if not target:
        return
    from gates.formats.outputs import format_outputs

    with open(target, "a", encoding="utf-8") as handle:
        handle.write(format_outputs(values))
