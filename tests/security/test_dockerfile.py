"""Dockerfile policy on a good multi-stage Dockerfile, a bad one, and broken copies of the good one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Status
from gates.security import dockerfile, secrets

FIXTURES = Path(__file__).parents[1] / "fixtures" / "security"
GOOD = (FIXTURES / "Dockerfile.good").read_text()
EXAMPLE = Path(__file__).parents[2] / "examples" / "service" / "Dockerfile"


HEALTHCHECK_LINES = GOOD[GOOD.index("HEALTHCHECK") : GOOD.index('CMD ["uvicorn')]


def _hits(text: str) -> list[tuple[str, int]]:
    hits, _ = dockerfile.evaluate(text, "Dockerfile")
    return sorted((h.rule, h.line) for h in hits if not h.exempt_reason)


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def _edit(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def test_good_dockerfile_passes():
    hits, described = dockerfile.evaluate(GOOD, "Dockerfile")
    assert hits == []
    assert [s["name"] for s in described["stages"]] == ["build", "runtime"]
    assert described["final_user"] == "10001:10001"


def test_bad_dockerfile_fails_every_rule():
    text = (FIXTURES / "Dockerfile.bad").read_text()
    assert _hits(text) == [
        ("docker.base-digest", 1),
        ("docker.base-pinned", 1),
        ("docker.healthcheck", 1),
        ("docker.multi-stage", 4),
        ("docker.no-add", 5),
        ("docker.secrets", 2),
        ("docker.secrets", 3),
        ("docker.user-non-root", 1),
    ]
    hits, _ = dockerfile.evaluate(text, "Dockerfile")
    secret = next(h for h in hits if h.line == 3)
    assert "AWS_SECRET_ACCESS_KEY" in secret.message and "wJalr" not in secret.message  # never echo the value


@pytest.mark.parametrize(
    "old, new, rule, needle",
    [
        ("USER 10001:10001", "USER root", "docker.user-non-root", "USER root"),
        ("USER 10001:10001", "USER 0:0", "docker.user-non-root", "USER 0"),
        ("USER 10001:10001\n", "", "docker.user-non-root", "AS runtime"),
        (HEALTHCHECK_LINES, "", "docker.healthcheck", "AS runtime"),
        (
            "COPY --chown=10001:10001 model/ /app/model/",
            "ADD model/ /app/model/",
            "docker.no-add",
            "ADD model/",
        ),
        (
            "    TOKENIZERS_PARALLELISM=false \\\n",
            "    TOKENIZERS_PARALLELISM=false \\\n    HF_TOKEN=abc123 \\\n",
            "docker.secrets",
            "ENV PATH",
        ),
        ("WORKDIR /app\n", "WORKDIR /app\nARG GITHUB_TOKEN\n", "docker.secrets", "ARG GITHUB_TOKEN"),
        (
            "WORKDIR /app\n",
            "WORKDIR /app\nENV DATABASE_URL=postgres://model:hunter2@db:5432/credit\n",
            "docker.secrets",
            "DATABASE_URL",
        ),
        (
            "RUN groupadd",
            "RUN apt-get update && apt-get install -y --no-install-recommends gcc libpq-dev && groupadd",
            "docker.multi-stage",
            "libpq-dev",
        ),
    ],
)
def test_each_broken_copy_gives_its_rule(old, new, rule, needle):
    text = _edit(old, new)
    assert _hits(text) == [(rule, _line(text, needle))]


def test_unpinned_base_images():
    latest = GOOD.replace(
        "ARG PYTHON_IMAGE=python:3.11.9-slim-bookworm@sha256:"
        "8fb099199b9f2d70342674bd9dbccd3ed03a258f26bbd1d556822c6dfc60c317",
        "ARG PYTHON_IMAGE=python:latest",
    )
    build, runtime = _line(latest, "AS build"), _line(latest, "AS runtime")
    assert _hits(latest) == [
        ("docker.base-digest", build),
        ("docker.base-digest", runtime),
        ("docker.base-pinned", build),
        ("docker.base-pinned", runtime),
    ]
    tag_only = GOOD.replace("@sha256:8fb099199b9f2d70342674bd9dbccd3ed03a258f26bbd1d556822c6dfc60c317", "")
    assert [rule for rule, _ in _hits(tag_only)] == ["docker.base-digest", "docker.base-digest"]
    no_default = GOOD.replace(
        "ARG PYTHON_IMAGE=python:3.11.9-slim-bookworm@sha256:"
        "8fb099199b9f2d70342674bd9dbccd3ed03a258f26bbd1d556822c6dfc60c317",
        "ARG PYTHON_IMAGE",
    )
    assert [rule for rule, _ in _hits(no_default)] == ["docker.base-pinned", "docker.base-pinned"]


def test_user_and_healthcheck_are_inherited_from_earlier_stages():
    text = (
        'FROM python:3.11.9-slim AS base\nUSER 1000\nHEALTHCHECK CMD ["true"]\nFROM base AS final\n'
        "COPY app.py /app.py\n"
    )
    assert _hits(text) == [("docker.base-digest", 1)]
    assert ("docker.user-non-root", 6) in _hits(text + "USER root\n")
    assert ("docker.healthcheck", 6) in _hits(text + "HEALTHCHECK NONE\n")


def test_build_tools_in_a_build_stage_are_fine_but_not_in_the_final_chain():
    text = (
        "FROM debian:12.5 AS build\nRUN apt-get install -y gcc make\nFROM build AS final\nUSER 1000\n"
        'HEALTHCHECK CMD ["true"]\n'
    )
    assert ("docker.multi-stage", 2) in _hits(text)  # the final stage is built on the stage with the tools
    split = text.replace("FROM build AS final", "FROM debian:12.5 AS final")
    assert [r for r, _ in _hits(split)] == ["docker.base-digest", "docker.base-digest"]


def test_exemption_comment():
    text = _edit(
        "COPY --chown=10001:10001 model/ /app/model/",
        "# mlgate:ignore docker.no-add vendored archive, sha256 checked in CI\nADD model.bin /app/",
    )
    hits, _ = dockerfile.evaluate(text, "Dockerfile")
    assert [(h.rule, h.exempt_reason) for h in hits] == [
        ("docker.no-add", "mlgate:ignore: vendored archive, sha256 checked in CI")
    ]
    no_reason = text.replace(" vendored archive, sha256 checked in CI", "")
    assert _hits(no_reason) == [
        ("docker.exemption-without-reason", _line(no_reason, "mlgate:ignore")),
        ("docker.no-add", _line(no_reason, "ADD model.bin")),
    ]


HEREDOC = """# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
RUN echo one `
# a comment inside a continuation
    && echo two
COPY <<CONFIG /app/config.ini
[server]
USER root
CONFIG
USER ContainerUser
HEALTHCHECK CMD ["ping"]
"""


def test_parser_handles_continuations_comments_heredocs_and_escape():
    instructions, escape = dockerfile.parse(HEREDOC)
    assert escape == "`"
    assert [(i.keyword, i.line) for i in instructions] == [
        ("FROM", 2),
        ("RUN", 3),
        ("COPY", 6),
        ("USER", 10),
        ("HEALTHCHECK", 11),
    ]
    assert "echo two" in instructions[1].args
    assert _hits(HEREDOC) == []  # "USER root" inside the heredoc is file content, not an instruction


def test_secret_names():
    for name in (
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "apiKey",
        "AWS_SECRET_ACCESS_KEY",
        "SIGNING_KEY",
        "client_secret",
        "PRIVATE_KEY",
        "DB_PASS",
        "MYSQL_ROOT_PASS",
        "SSH_KEY",
        "DEPLOY_KEY",
    ):
        assert secrets.secret_name(name), name
    for name in (
        "TOKENIZERS_PARALLELISM",
        "PASS_THROUGH",
        "BYPASS",
        "PASSWORD_FILE",
        "HF_TOKEN_PATH",
        "KEYBOARD",
        "PATH",
        "PWD",
        "MODEL_PATH",
        "SECRET_NAME",
        "PRIMARY_KEY_COLUMN",
    ):
        assert not secrets.secret_name(name), name
    assert secrets.secret_value("ghp_" + "a" * 36) == "GitHub token"
    assert secrets.secret_value("AKIAIOSFODNN7EXAMPLE") == "AWS access key id"
    assert secrets.secret_value("https://example.com/path") is None


def test_not_a_dockerfile():
    with pytest.raises(InputError, match="no FROM"):
        dockerfile.evaluate("RUN echo hi\n", "Dockerfile")


def test_check_through_the_gate_context(tmp_path):
    (tmp_path / "Dockerfile").write_text((FIXTURES / "Dockerfile.bad").read_text())
    part = dockerfile.check(
        {"paths": ["."]}, GateContext(tmp_path, tmp_path / "r"), {"docker.base-digest": "off"}
    )
    assert {c.name for c in part.checks} == {
        f"dockerfile:docker.{r}"
        for r in ("base-pinned", "healthcheck", "multi-stage", "no-add", "secrets", "user-non-root")
    }
    assert all(c.status is Status.FAIL for c in part.checks)
    assert part.summary["findings"] == 7


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/service/Dockerfile is not written yet")
def test_example_dockerfile_passes():
    part = dockerfile.check({"paths": [str(EXAMPLE)]}, GateContext(EXAMPLE.parent, EXAMPLE.parent / "r"), {})
    assert all(c.status.passed for c in part.checks), [c.why for c in part.checks if not c.status.passed]


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/service/Dockerfile is not written yet")
def test_broken_copies_of_the_example_dockerfile_fail():
    text = EXAMPLE.read_text()
    user = next(line for line in text.splitlines() if line.startswith("USER "))
    assert ("docker.user-non-root", _line(text, user)) in _hits(text.replace(user, "USER root"))
    no_health = "\n".join(line for line in text.splitlines() if not line.startswith("HEALTHCHECK"))
    assert "docker.healthcheck" in {rule for rule, _ in _hits(no_health)}
    with_add = text.replace("COPY --from=deps", "ADD --from=deps", 1)
    assert "docker.no-add" in {rule for rule, _ in _hits(with_add)}


BASE = "FROM python:3.12.4-slim@sha256:" + "a" * 64 + '\nHEALTHCHECK CMD ["true"]\n'


@pytest.mark.parametrize(
    "user", ["root", "0", "00", "+0", "-0", "0:0", "root:root", "0:1000", '"root"', "r\\oot"]
)
def test_root_in_any_spelling(user):
    text = BASE + f"USER {user}\n"
    assert _hits(text) == [("docker.user-non-root", 3)]


@pytest.mark.parametrize("user", ["1000", "10001:0", "app", "rooted", "0app", "1000:root"])
def test_non_root_users(user):
    assert _hits(BASE + f"USER {user}\n") == []


def test_user_from_build_arguments_and_env():
    root_arg = "ARG APP_USER=root\n" + BASE + "ARG APP_USER\nUSER ${APP_USER}\n"
    assert _hits(root_arg) == [("docker.user-non-root", 5)]
    local = BASE + "ARG UID=0\nENV RUN_AS=$UID\nUSER $RUN_AS:$RUN_AS\n"
    assert _hits(local) == [("docker.user-non-root", 5)]
    env_wins = BASE + "ENV U=1000\nARG U=0\nUSER $U\n"
    assert _hits(env_wins) == []
    inherited = 'FROM python:3.12.4-slim AS base\nENV U=0\nFROM base\nHEALTHCHECK CMD ["true"]\nUSER $U\n'
    assert _hits(inherited) == [
        ("docker.base-digest", 1),
        ("docker.user-non-root", 5),
    ]  # ENV carries along FROM


@pytest.mark.parametrize(
    "lines",
    [
        "ARG APP_UID\nUSER $APP_UID\n",  # a build argument without a default can be anything
        "USER $FROM_BASE_IMAGE\n",  # an ENV of the base image mlgate cannot see
        "USER ${U#x}\n",  # an expansion mlgate does not evaluate
    ],
)
def test_a_user_mlgate_cannot_know_is_a_finding(lines):
    hits, _ = dockerfile.evaluate(BASE + lines, "Dockerfile")
    assert [h.rule for h in hits] == ["docker.user-non-root"] and "cannot tell" in hits[0].message


@pytest.mark.parametrize(
    "add, fine",
    [
        ("ADD --checksum=sha256:" + "b" * 64 + " https://example.com/m.bin /m.bin", True),
        ("ADD model.tar.gz /app/", True),
        ("ADD vendor.tar /opt/", True),
        ("ADD https://example.com/m.bin /m.bin", False),
        ("ADD git@github.com:org/repo.git /src", False),
        ("ADD app.py /app/", False),
        ('ADD ["a.tgz", "b.py", "/app/"]', False),
        ("ADD <<EOF /etc/conf\nx=1\nEOF", False),
    ],
)
def test_add_is_fine_only_for_checked_downloads_and_local_archives(add, fine):
    text = BASE + add + "\nUSER 1000\n"
    assert (_hits(text) == []) is fine, _hits(text)


def test_build_tools_in_a_heredoc_run_are_seen():
    text = BASE + "RUN <<EOF\nset -e\napt-get install -y gcc\nEOF\nUSER 1000\n"
    assert _hits(text) == [("docker.multi-stage", 3)]


def test_secret_values_in_quoted_env():
    text = BASE + 'ENV GH="ghp_' + "a" * 36 + '"\nUSER 1000\n'
    assert _hits(text) == [("docker.secrets", 3)]


def test_bad_env_is_a_one_line_input_error():
    with pytest.raises(InputError, match=r"^Dockerfile:3: ENV"):
        dockerfile.evaluate(BASE + "ENV ONLY_A_NAME\nUSER 1000\n", "Dockerfile")


_PIECES = st.sampled_from(
    [
        "FROM python:3.12 AS b\n",
        "FROM b\n",
        "ARG U=0\n",
        "ARG U\n",
        "ENV A=1 B\n",
        "ENV K v\n",
        "USER $U\n",
        "USER ${U:-root}:0\n",
        "USER\n",
        "ADD a.tgz b.py /x/\n",
        'ADD ["https://x/y"]\n',
        "RUN <<EOF\napt-get install -y gcc\nEOF\n",
        "COPY <<-E /x\n\tE\n",
        "HEALTHCHECK NONE\n",
        "# mlgate:ignore docker.no-add\n",
        "RUN echo \\\n",
        "${A:-${B:-${C}}}\n",
        '"\n',
        "\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=10))
def test_any_dockerfile_gives_findings_or_a_one_line_error(pieces):
    try:
        dockerfile.evaluate("".join(pieces), "Dockerfile")
    except InputError as exc:
        assert str(exc).startswith("Dockerfile") and "\n" not in str(exc)


def test_real_constructs():
    real = FIXTURES / "dockerfiles"
    assert (
        _hits((real / "heredoc-python.Dockerfile").read_text()) == []
    )  # USER root inside a heredoc is content
    assert _hits((real / "windows.Dockerfile").read_text()) == []
    text = (real / "continuations.Dockerfile").read_text()
    # the global ARG default reaches the final stage through a bare `ARG RUNTIME_USER`
    assert _hits(text) == [("docker.user-non-root", _line(text, "USER $RUNTIME_USER"))]


def test_from_a_variable_that_names_an_earlier_stage():
    text = BASE.replace("\n", " AS base\n", 1) + "ARG X\n"
    text = "ARG STAGE=base\n" + text + "FROM ${STAGE}\nUSER 1000\n"
    assert _hits(text) == []
