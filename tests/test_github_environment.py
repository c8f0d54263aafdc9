"""`mlgate github check-environment`: a deploy job may only target a GitHub Environment that requires a
reviewer's approval (GitHub creates a missing one, unprotected, when the job starts). Against the fake REST API
in tests/github_fake.py, with GitHub's response shapes for Get an environment."""

from __future__ import annotations

import pytest

from tests.github_fake import FakeGitHub, Token, environment, team_reviewer, user_reviewer

TOKEN = "ghs_fakeInstallationToken0123456789abcd"
NO_ACTIONS = "ghs_tokenWithoutActionsRead0123456789ab"
GITHUB_VARS = ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL")


@pytest.fixture(autouse=True)
def _no_job_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GITHUB_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def github():
    fake = FakeGitHub(tokens={TOKEN: Token(), NO_ACTIONS: Token(actions=None)})
    fake.environments = {
        "production": environment(
            "production",
            reviewers=[user_reviewer("octocat"), team_reviewer("ml-leads")],
            wait_timer=30,
            branch_policy=True,
        ),
        "release/eu": environment("release/eu", reviewers=[user_reviewer("octocat")]),
        "staging": environment("staging", wait_timer=5, branch_policy=True),
        "empty-reviewers": environment("empty-reviewers", reviewers=[]),
    }
    fake.start()
    yield fake
    fake.stop()


def run(cli, github, tmp_path, *args: str, token: str = TOKEN):
    output = tmp_path / "github_output"
    output.write_text("", encoding="utf-8")
    result = cli("github", "check-environment", *args, env=github.env(token, GITHUB_OUTPUT=str(output)))
    assert token not in result.stdout + result.stderr
    return result, output.read_text(encoding="utf-8")


def test_protected_environment_passes(cli, github, tmp_path):
    result, outputs = run(cli, github, tmp_path, "--name", "production")
    assert result.code == 0, result.stderr
    assert "protected=true" in outputs.splitlines()
    assert "octocat, team ml-leads" in result.stdout and "wait timer 30 min" in result.stdout
    [call] = github.calls("GET")
    assert call.path == "/repos/octo-org/model-repo/environments/production"


def test_environment_name_is_url_encoded(cli, github, tmp_path):
    result, outputs = run(cli, github, tmp_path, "--name", "release/eu")
    assert result.code == 0, result.stderr
    assert "protected=true" in outputs
    assert github.calls("GET")[0].path == "/repos/octo-org/model-repo/environments/release%2Feu"


def test_missing_environment_is_exit_2_with_the_reason(cli, github, tmp_path):
    result, outputs = run(cli, github, tmp_path, "--name", "prod")
    assert result.code == 2
    assert len(result.stderr_lines) == 1
    assert "environment 'prod' does not exist" in result.stderr
    assert "GitHub would create it without reviewers when the deploy job starts" in result.stderr
    assert "--allow-unprotected" in result.stderr
    assert "protected=false" in outputs


def test_missing_environment_allowed_is_a_warning(cli, github, tmp_path):
    result, outputs = run(cli, github, tmp_path, "--name", "prod", "--allow-unprotected")
    assert result.code == 0
    assert result.stdout.startswith("::warning title=mlgate environment::environment 'prod' does not exist")
    assert "protected=false" in outputs


@pytest.mark.parametrize(
    ("name", "rules"), [("staging", "branch_policy, wait_timer"), ("empty-reviewers", "required_reviewers")]
)
def test_environment_without_reviewers_is_exit_2(cli, github, tmp_path, name, rules):
    result, outputs = run(cli, github, tmp_path, "--name", name)
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert f"environment '{name}' has no required reviewers (protection rules: {rules})" in result.stderr
    assert "protected=false" in outputs
    allowed, _ = run(cli, github, tmp_path, "--name", name, "--allow-unprotected")
    assert allowed.code == 0 and "::warning" in allowed.stdout


def test_token_without_actions_read_is_exit_2(cli, github, tmp_path):
    result, outputs = run(cli, github, tmp_path, "--name", "production", token=NO_ACTIONS)
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "HTTP 403" in result.stderr and "permissions: actions: read" in result.stderr
    assert "GitHub accepts actions=read" in result.stderr
    assert "protected=false" in outputs


def test_rejected_or_missing_token_is_exit_2(cli, github, tmp_path):
    bad = "ghs_revokedToken000000000000000000000"
    result, _ = run(cli, github, tmp_path, "--name", "production", token=bad)
    assert result.code == 2 and "HTTP 401" in result.stderr and "Bad credentials" in result.stderr
    env = github.env("")
    missing = cli("github", "check-environment", "--name", "production", env=env)
    assert missing.code == 2 and "GITHUB_TOKEN is not set" in missing.stderr


def test_github_errors_and_outages_are_exit_3(cli, github, tmp_path, sleeps):
    github.fail_next(500, times=3)
    result, outputs = run(cli, github, tmp_path, "--name", "production")
    assert result.code == 3 and len(result.stderr_lines) == 1 and "HTTP 500" in result.stderr
    assert "protected=false" in outputs and len(sleeps) == 2
    github.fail_next(502)  # one bad gateway is retried
    result, outputs = run(cli, github, tmp_path, "--name", "production")
    assert result.code == 0 and "protected=true" in outputs
    env = github.env(TOKEN)
    github.stop()  # nothing listens any more
    down = cli(
        "github",
        "check-environment",
        "--name",
        "production",
        env=env,
    )
    assert down.code == 3 and "cannot connect" in down.stderr and TOKEN not in down.stderr


def test_repository_must_be_known(cli, github, tmp_path):
    env = github.env(TOKEN)
    env["GITHUB_REPOSITORY"] = "just-a-name"
    result = cli("github", "check-environment", "--name", "production", env=env)
    assert result.code == 2 and "OWNER/REPO" in result.stderr
