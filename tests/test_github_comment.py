"""`mlgate comment`: one pull-request comment per workflow, rendered from the JSON reports and upserted through
the GitHub REST API (a fake on loopback, tests/github_fake.py): created once, then updated in place; other
workflows' comments and people's comments left alone; a refused comment is a warning, never a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gates.core.result import Check, GateResult, Status
from gates.formats import Output, json_report
from gates.formats.comment import GITHUB_COMMENT_LIMIT, marker, read_reports, render, size
from tests.github_fake import FakeGitHub, Token

BOT = "ghs_fakeInstallationToken0123456789abcd"  # GITHUB_TOKEN is an app installation token
READ_ONLY = "ghs_forkReadOnlyToken0123456789abcdef"
PAT = "github_pat_fakePersonalToken0123456789"
GITHUB_VARS = (
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "GITHUB_EVENT_PATH",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "GITHUB_SHA",
)


@pytest.fixture(autouse=True)
def _no_job_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a real GitHub Actions job these would point the tests at the real pull request."""
    for name in GITHUB_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def github():
    fake = FakeGitHub(
        tokens={
            BOT: Token(),
            READ_ONLY: Token(pull_requests="read"),
            PAT: Token(login="release-robot", type="User", id=555),
        }
    )
    fake.start()
    yield fake
    fake.stop()


def results(status: Status = Status.PASS) -> list[GateResult]:
    return [
        GateResult(
            gate="metrics",
            checks=[
                Check(
                    "roc_auc", status, "ROC AUC 0.71 is below the minimum 0.75", 0.71, (0.69, 0.73), ">= 0.75"
                ),
                Check("accuracy", Status.PASS, "accuracy clears 0.8", 0.86, None, ">= 0.8"),
            ],
            summary={"roc_auc": 0.71, "accuracy": 0.86, "rows": 1200},
        ),
        GateResult(gate="bias", checks=[Check("tpr_ratio", Status.WARN, "close to the limit", 0.82)]),
        GateResult(gate="tests", checks=[Check("failures", Status.PASS, "no failing tests", 0)]),
    ]


def write_reports(folder: Path, gate_results: list[GateResult]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    json_report.write(gate_results, Output(report_dir=folder, env={}))
    return folder


def event(tmp_path: Path, number: int = 7) -> str:
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": number,
                "pull_request": {"number": number, "head": {"sha": "0123456789abcdef0123"}},
            }
        ),
        encoding="utf-8",
    )
    return str(path)


def no_token_anywhere(result, *tokens: str) -> None:
    for token in tokens:
        assert token not in result.stdout and token not in result.stderr


# -- upsert -------------------------------------------------------------------------------------------------------


def test_first_run_creates_second_run_updates_in_place(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results(Status.FAIL))
    output = tmp_path / "output.txt"
    env = github.env(BOT, GITHUB_EVENT_PATH=event(tmp_path), GITHUB_OUTPUT=str(output))
    first = cli("comment", "--reports", reports, "--workflow", "model-pr", env=env)
    assert first.code == 0, first.stderr
    assert "comment created" in first.stdout
    written = output.read_text(encoding="utf-8")
    assert "created" in written and "https://github.com/octo-org/model-repo/pull/7#issuecomment-" in written
    [posted] = github.all_comments()
    assert posted["body"].startswith("<!-- mlgate-comment workflow=model-pr -->\n")
    assert "❌ fail" in posted["body"] and "roc_auc = 0.71 [0.69, 0.73] (needs >= 0.75)" in posted["body"]
    assert "commit `0123456789ab`" in posted["body"]

    write_reports(tmp_path / "reports", results(Status.PASS))  # the next push passes
    second = cli("comment", "--reports", reports, "--workflow", "model-pr", env=env)
    assert second.code == 0, second.stderr
    assert "comment updated" in second.stdout
    [updated] = github.all_comments()
    assert updated["id"] == posted["id"]
    assert "❌" not in updated["body"] and "⚠️ mlgate: warn" in updated["body"]
    assert len(github.calls("POST")) == 1 and len(github.calls("PATCH")) == 1
    no_token_anywhere(first, BOT)
    no_token_anywhere(second, BOT)


def test_finds_its_comment_beyond_the_first_page(cli, github, tmp_path):
    for i in range(180):
        github.add_comment(7, f"comment {i}", login=f"reviewer{i % 3}")
    ours = github.add_comment(
        7, marker("model-pr") + "\nold verdict", login="github-actions[bot]", type="Bot"
    )
    for i in range(70):
        github.add_comment(7, f"later comment {i}")
    reports = write_reports(tmp_path / "reports", results())
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", "--pr", "7", env=github.env(BOT))
    assert result.code == 0, result.stderr
    assert len(github.all_comments()) == 251  # nothing new
    assert github.all_comments()[180]["id"] == ours["id"]
    assert "old verdict" not in github.all_comments()[180]["body"]
    listed = github.calls("GET")
    assert len(listed) == 3  # 100 + 100 + 51, following Link rel="next"
    assert listed[0].query["per_page"] == ["100"]
    assert [r.path.split("/")[1] for r in listed] == ["repos", "repositories", "repositories"]
    assert all(r.authorized for r in github.requests)


def test_other_workflows_and_peoples_comments_are_left_alone(cli, github, tmp_path):
    other = github.add_comment(7, marker("model-pr-gpu") + "\nGPU verdict", "github-actions[bot]", "Bot")
    quoted = github.add_comment(
        7, "> see above\n" + marker("model-pr") + "\nI copied this", "octocat", "User"
    )
    reports = write_reports(tmp_path / "reports", results())
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", "--pr", "7", env=github.env(BOT))
    assert result.code == 0, result.stderr
    comments = {c["id"]: c for c in github.all_comments()}
    assert len(comments) == 3
    assert comments[other["id"]]["body"].endswith("GPU verdict")
    assert comments[quoted["id"]]["body"].endswith("I copied this")
    assert not github.calls("PATCH")


def test_several_marked_comments_update_the_newest_only(cli, github, tmp_path):
    older = github.add_comment(7, marker("model-pr") + "\nfirst", "github-actions[bot]", "Bot")
    newer = github.add_comment(7, marker("model-pr") + "\nsecond", "github-actions[bot]", "Bot")
    reports = write_reports(tmp_path / "reports", results())
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", "--pr", "7", env=github.env(BOT))
    assert result.code == 0, result.stderr
    comments = {c["id"]: c for c in github.all_comments()}
    assert comments[older["id"]]["body"].endswith("first")
    assert "mlgate: warn" in comments[newer["id"]]["body"]
    assert "1 older comment" in result.stdout


def test_a_personal_token_updates_only_its_own_comment(cli, github, tmp_path):
    bots = github.add_comment(7, marker("model-pr") + "\nby the bot", "github-actions[bot]", "Bot")
    reports = write_reports(tmp_path / "reports", results())
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", "--pr", "7", env=github.env(PAT))
    assert result.code == 0, result.stderr
    assert "comment created" in result.stdout  # /user says release-robot, so the bot's comment is not ours
    comments = github.all_comments()
    assert comments[0]["id"] == bots["id"] and comments[0]["body"].endswith("by the bot")
    assert comments[1]["user"]["login"] == "release-robot"
    again = cli("comment", "--reports", reports, "--workflow", "model-pr", "--pr", "7", env=github.env(PAT))
    assert "comment updated" in again.stdout and len(github.all_comments()) == 2
    no_token_anywhere(result, PAT)


# -- refused or unreachable: a warning, never a verdict ----------------------------------------------------------


def test_a_refused_comment_warns_and_exits_0(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results(Status.FAIL))
    output = tmp_path / "output.txt"
    env = github.env(READ_ONLY, GITHUB_EVENT_PATH=event(tmp_path), GITHUB_OUTPUT=str(output))
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", env=env)
    assert result.code == 0
    [warning] = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert "HTTP 403" in warning and "Resource not accessible by integration" in warning
    assert "pull-requests: write" in warning and "issues=write; pull_requests=write" in warning
    assert not github.all_comments()
    assert "comment<<" in output.read_text() and "skipped" in output.read_text()
    no_token_anywhere(result, READ_ONLY)

    strict = cli("comment", "--reports", reports, "--workflow", "model-pr", "--strict", env=env)
    assert strict.code == 2
    assert len(strict.stderr_lines) == 1 and "HTTP 403" in strict.stderr


def test_github_down_warns_or_with_strict_exits_3(cli, github, tmp_path, sleeps):
    reports = write_reports(tmp_path / "reports", results())
    env = github.env(BOT)
    github.fail_next(503, times=3)  # every attempt
    result = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "7", env=env)
    assert result.code == 0
    assert "::warning" in result.stdout and "HTTP 503" in result.stdout
    assert sleeps == [1.0, 2.0]  # bounded retries with backoff
    github.fail_next(502, times=1)  # one bad gateway, then fine: retried
    result = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "7", env=env)
    assert result.code == 0 and "comment created" in result.stdout
    github.fail_next(500, times=3)
    strict = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "7", "--strict", env=env)
    assert strict.code == 3 and len(strict.stderr_lines) == 1


def test_unknown_pull_request_and_bad_token_are_warnings(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results())
    missing = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "99", env=github.env(BOT))
    assert missing.code == 0 and "HTTP 404" in missing.stdout and "#99" in missing.stdout
    bad = "ghs_notAValidToken0000000000000000000"
    rejected = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "7", env=github.env(bad))
    assert rejected.code == 0 and "HTTP 401" in rejected.stdout and "Bad credentials" in rejected.stdout
    no_token_anywhere(rejected, bad)


# -- configuration errors: exit 2, one line -----------------------------------------------------------------------


def test_missing_token_pr_or_repository_is_exit_2(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results())
    no_token = cli(
        "comment", "--reports", reports, "--workflow", "w", "--pr", "7", env={"GITHUB_REPOSITORY": "o/r"}
    )
    assert no_token.code == 2 and len(no_token.stderr_lines) == 1 and "GITHUB_TOKEN" in no_token.stderr
    no_pr = cli("comment", "--reports", reports, "--workflow", "w", env=github.env(BOT))
    assert no_pr.code == 2 and len(no_pr.stderr_lines) == 1 and "--pr" in no_pr.stderr
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    on_push = cli(
        "comment", "--reports", reports, "--workflow", "w", env=github.env(BOT, GITHUB_EVENT_PATH=str(push))
    )
    assert on_push.code == 2 and "pull_request.number" in on_push.stderr
    env = github.env(BOT)
    del env["GITHUB_REPOSITORY"]
    no_repo = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "7", env=env)
    assert no_repo.code == 2 and "GITHUB_REPOSITORY" in no_repo.stderr
    empty = cli("comment", "--reports", reports, "--workflow", " ", "--pr", "7", env=github.env(BOT))
    assert empty.code == 2 and "--workflow" in empty.stderr
    assert not github.requests


def test_a_token_with_a_newline_is_refused_without_echoing_it(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results())
    token = "ghs_secretPart\nsecondLine"
    result = cli("comment", "--reports", reports, "--workflow", "w", "--pr", "7", env=github.env(token))
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert (
        "secretPart" not in result.stderr + result.stdout
        and "secondLine" not in result.stderr + result.stdout
    )


def test_no_reports_still_replaces_the_old_verdict_then_exits_2(cli, github, tmp_path):
    old = github.add_comment(7, marker("w") + "\n## ✅ mlgate: pass", "github-actions[bot]", "Bot")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "unrelated.json").write_text('{"not": "a report"}', encoding="utf-8")
    result = cli("comment", "--reports", empty, "--workflow", "w", "--pr", "7", env=github.env(BOT))
    assert result.code == 2 and "no mlgate JSON reports" in result.stderr
    [comment] = github.all_comments()
    assert comment["id"] == old["id"] and "✅" not in comment["body"] and "⛔" in comment["body"]
    assert "no mlgate JSON reports" in comment["body"]


def test_a_named_file_that_is_not_a_report_is_exit_2(cli, tmp_path):
    bogus = tmp_path / "x.json"
    bogus.write_text("[1, 2]", encoding="utf-8")
    result = cli("comment", "--reports", bogus, "--workflow", "w", "--dry-run")
    assert result.code == 2 and "not an mlgate JSON report" in result.stderr
    missing = cli("comment", "--reports", tmp_path / "nope", "--workflow", "w", "--dry-run")
    assert missing.code == 2 and "no such file or folder" in missing.stderr


# -- rendering ----------------------------------------------------------------------------------------------------


def test_dry_run_prints_the_body_and_calls_nothing(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results(Status.FAIL))
    env = {
        "GITHUB_API_URL": github.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "octo-org/model-repo",
        "GITHUB_RUN_ID": "4242",
    }
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", "--dry-run", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "<!-- mlgate-comment workflow=model-pr -->"
    assert "[workflow run](https://github.com/octo-org/model-repo/actions/runs/4242)" in result.stdout
    table = [line for line in lines if line.startswith("| ")][1:]  # rows after the header
    assert [row.split("|")[1].strip() for row in table] == ["metrics", "bias", "tests"]  # worst first
    assert "rows=1200" in table[0] and "roc_auc=0.71" in table[0]
    assert "ROC AUC 0.71 is below the minimum 0.75" in result.stdout  # the reason, folded
    assert not github.requests


def test_a_folder_is_searched_recursively_and_each_gate_shown_once(tmp_path):
    write_reports(
        tmp_path / "all" / "job-a", results()
    )  # mlgate.json + metrics.json + bias.json + tests.json
    write_reports(tmp_path / "all" / "job-b", [GateResult("drift", [Check("psi", Status.ERROR, "no data")])])
    (tmp_path / "all" / "job-b" / "profile.json").write_text('{"columns": []}', encoding="utf-8")
    rows = read_reports([tmp_path / "all"])
    assert [r.label for r in rows] == ["drift", "bias", "metrics", "tests"]  # worst first
    # the same gate in two jobs is told apart by its folder
    write_reports(tmp_path / "all" / "job-c", results())
    labels = [r.label for r in read_reports([tmp_path / "all"])]
    assert "metrics (job-a)" in labels and "metrics (job-c)" in labels and len(labels) == 7
    # a file named directly and its folder do not double count
    assert len(read_reports([tmp_path / "all" / "job-b", tmp_path / "all" / "job-b" / "drift.json"])) == 1


def test_the_body_stays_under_githubs_limit(cli, github, tmp_path):
    many = [
        GateResult(
            gate=f"gate-{i:04d}",
            checks=[
                Check(f"check-{j}-" + "x" * 80, Status.FAIL, "why " * 60, float(j), None, ">= 1")
                for j in range(8)
            ],
            summary={f"value_{k}": k * 1.5 for k in range(8)},
        )
        for i in range(400)
    ]
    reports = write_reports(tmp_path / "big", many)
    result = cli("comment", "--reports", reports, "--workflow", "big", "--pr", "7", env=github.env(BOT))
    assert result.code == 0, result.stdout + result.stderr
    [comment] = github.all_comments()  # the fake refuses bodies over 65,536 characters, as GitHub does
    assert size(comment["body"]) <= GITHUB_COMMENT_LIMIT
    assert "more gates (not shown" in comment["body"]
    assert "more failed checks" in comment["body"]
    assert comment["body"].rstrip().endswith("</sub>")


def test_cells_cannot_break_the_table_or_forge_a_marker():
    row = GateResult(
        gate="data",
        checks=[Check("col|<!-- mlgate-comment workflow=x -->\nname", Status.FAIL, "bad | worse\n", "a|b")],
    )
    from gates.formats.comment import GateRow

    body = render(
        [GateRow(gate="data", status=Status.FAIL, checks=[c.to_dict() for c in row.checks])], "model-pr"
    )
    assert body.count("<!--") == 1
    table_rows = [line for line in body.splitlines() if line.startswith("| data")]
    assert len(table_rows) == 1 and table_rows[0].count(" | ") == 3


def test_marker_encodes_what_could_end_the_html_comment():
    assert marker("CI / model") == "<!-- mlgate-comment workflow=CI / model -->"
    tricky = marker("a-->b--c")
    assert tricky.count("--") == 2 and tricky.endswith(" -->") and "%3E" in tricky
    assert marker("build") != marker("build-gpu") and not marker("build-gpu").startswith(marker("build"))


# -- what changed since an earlier run (--previous) -----------------------------------------------------------


def test_previous_report_adds_the_diff_under_the_verdict(cli, github, tmp_path):
    base = write_reports(tmp_path / "base", results(Status.PASS))  # the base branch's run
    reports = write_reports(tmp_path / "reports", results(Status.FAIL))
    env = github.env(BOT, GITHUB_EVENT_PATH=event(tmp_path))
    previous = base / "mlgate.json"
    result = cli("comment", "--reports", reports, "--workflow", "model-pr", "--previous", previous, env=env)
    assert result.code == 0, result.stderr
    [posted] = github.all_comments()
    body = posted["body"]
    verdict = body.index("| gate | status | failed checks | key values |")
    changes = body.index("### Changes since the previous run: ⚠️ warn → ❌ fail (worse)")
    assert verdict < changes < body.index("Why checks failed")
    assert "| metrics | ✅ pass → ❌ fail | 1 |" in body
    assert "| metrics | roc_auc | changed: status |" in body
    assert size(body) < GITHUB_COMMENT_LIMIT

    same = cli(
        "comment",
        "--reports",
        reports,
        "--workflow",
        "model-pr",
        "--previous",
        reports / "mlgate.json",
        env=env,
    )
    assert (
        same.code == 0
        and "No differences in verdicts, checks or findings." in github.all_comments()[0]["body"]
    )


def test_an_unreadable_previous_report_still_posts_the_verdict_then_exits_2(cli, github, tmp_path):
    reports = write_reports(tmp_path / "reports", results(Status.FAIL))
    (tmp_path / "old.json").write_text("{not json", encoding="utf-8")
    env = github.env(BOT, GITHUB_EVENT_PATH=event(tmp_path))
    result = cli(
        "comment", "--reports", reports, "--workflow", "w", "--previous", tmp_path / "old.json", env=env
    )
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "--previous" in result.stderr and "old.json: not JSON (line 1" in result.stderr
    [posted] = github.all_comments()
    assert (
        "❌ fail" in posted["body"]
        and "Changes since the previous run: not shown (--previous " in posted["body"]
    )
    missing = cli(
        "comment", "--reports", reports, "--workflow", "w", "--previous", tmp_path / "no.json", "--dry-run"
    )
    assert missing.code == 2 and "no.json: cannot read" in missing.stderr
