"""GitOps promotion against a real local bare git repository (git 2.x CLI): the kustomization's images: is
set as `kustomize edit set image` sets it, committed and pushed; a re-run makes no commit; a push that loses a
race is rebased and retried; bad input is one line, exit 2."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from gates.core.errors import InputError
from gates.deploy.gitops import commit_image, shown
from gates.deploy.kustomize_edit import set_image, split_reference

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
DIGEST = "sha256:" + "ab" * 32


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository whose main branch holds apps/prod/kustomization.yaml."""
    bare = tmp_path / "gitops.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "apps/prod").mkdir(parents=True)
    (seed / "apps/prod/kustomization.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [deployment.yaml]
        images:
          - name: example/app
            newTag: v1
        """)
    )
    (seed / "apps/prod/deployment.yaml").write_text("kind: Deployment\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def kustomization(bare: Path, tmp_path: Path, name: str = "check") -> dict:
    out = tmp_path / name
    git(tmp_path, "clone", "--quiet", str(bare), str(out))
    return yaml.safe_load((out / "apps/prod/kustomization.yaml").read_text())


def settings(bare: Path) -> dict:
    return {"repository": str(bare), "branch": "main", "path": "apps/prod"}


def test_commit_sets_the_digest_and_a_rerun_makes_no_commit(remote, tmp_path):
    lines: list[str] = []
    first = commit_image(
        settings(remote), {"example/app": f"ghcr.io/acme/app@{DIGEST}"}, tmp_path, lines.append
    )
    assert first["changed"] and first["file"] == "apps/prod/kustomization.yaml"
    assert kustomization(remote, tmp_path)["images"] == [
        {"name": "example/app", "newName": "ghcr.io/acme/app", "digest": DIGEST}
    ]
    assert git(remote, "log", "-1", "--format=%an <%ae>|%s") == (
        f"mlgate <mlgate@users.noreply.github.com>|mlgate: promote example/app=ghcr.io/acme/app@{DIGEST}"
    )
    again = commit_image(
        settings(remote), {"example/app": f"ghcr.io/acme/app@{DIGEST}"}, tmp_path, lines.append
    )
    assert not again["changed"] and again["commit"] == first["commit"]
    assert git(remote, "rev-list", "--count", "main") == "2"


def test_a_lost_push_race_is_rebased_and_retried(remote, tmp_path, monkeypatch):
    """Another writer pushes between our clone and our push: the push is refused, we re-read and win."""
    from gates.deploy import gitops

    real = gitops.Git.__call__
    raced = []

    def racing(self, *args, check=True):
        if args[:1] == ("push",) and not raced:
            raced.append(True)
            other = tmp_path / "other"
            git(tmp_path, "clone", "--quiet", str(remote), str(other))
            (other / "README").write_text("someone else\n")
            git(other, "add", "README")
            git(other, "commit", "--quiet", "-m", "concurrent")
            git(other, "push", "--quiet", "origin", "HEAD:main")
        return real(self, *args, check=check)

    monkeypatch.setattr(gitops.Git, "__call__", racing)
    done = commit_image(settings(remote), {"example/app": "ghcr.io/acme/app:v2"}, tmp_path, lambda _l: None)
    assert done["changed"] and done["attempts"] == 2
    assert kustomization(remote, tmp_path)["images"][0] == {
        "name": "example/app",
        "newName": "ghcr.io/acme/app",
        "newTag": "v2",
    }
    assert git(remote, "log", "--format=%s", "main").splitlines()[:2] == [
        "mlgate: promote example/app=ghcr.io/acme/app:v2",
        "concurrent",
    ]


def test_cli_gitops_without_waiting(cli, remote, tmp_path):
    policy = tmp_path / "gates.yml"
    policy.write_text(
        f"version: 1\ndeploy:\n  strategy: gitops\n  gitops: {{repository: {remote}, path: apps/prod}}\n"
    )
    result = cli("--policy", policy, "deploy", "--image", f"example/app=ghcr.io/acme/app@{DIGEST}")
    assert result.code == 0, result.stdout + result.stderr
    assert "commit" in result.stdout
    missing = cli("--policy", policy, "deploy")
    assert missing.code == 2 and len(missing.stderr_lines) == 1 and "--image" in missing.stderr
    policy.write_text(
        f"version: 1\ndeploy:\n  strategy: gitops\n  gitops: {{repository: {remote}, path: apps/none}}\n"
    )
    result = cli("--policy", policy, "deploy", "--image", "example/app=ghcr.io/acme/app:v3")
    assert result.code == 2 and "no kustomization.yaml in apps/none" in result.stderr
    policy.write_text(
        f"version: 1\ndeploy:\n  strategy: gitops\n  gitops: {{repository: {tmp_path / 'nothing.git'}, path: apps/prod}}\n"
    )
    result = cli("--policy", policy, "deploy", "--image", "example/app=ghcr.io/acme/app:v3")
    assert result.code == 3 and len(result.stderr_lines) == 1


def test_split_reference_and_set_image():
    assert split_reference(f"r.io/a/b@{DIGEST}") == {"newName": "r.io/a/b", "digest": DIGEST}
    assert split_reference("localhost:5000/a:1.2") == {"newName": "localhost:5000/a", "newTag": "1.2"}
    for bad in ("r.io/a/b@sha256:short", "localhost:5000/a"):
        with pytest.raises(InputError):
            split_reference(bad)
    document: dict = {"images": [{"name": "x", "newTag": "1", "digest": DIGEST}]}
    assert set_image(document, "x", "r/x:2") and document["images"] == [
        {"name": "x", "newName": "r/x", "newTag": "2"}
    ]
    assert not set_image(document, "x", "r/x:2")
    assert set_image(document, "y", "r/y:1") and len(document["images"]) == 2


def test_credentials_never_shown():
    assert shown("https://user:ghp_secret@github.com/acme/gitops.git") == "https://github.com/acme/gitops.git"
    assert shown("git@github.com:acme/gitops.git") == "git@github.com:acme/gitops.git"


# -- pull-request mode (against tests/github_fake.py, a local GitHub API server) ---------------------------------
@pytest.fixture
def github(monkeypatch):
    from tests.github_fake import FakeGitHub, Token

    fake = FakeGitHub(tokens={"ghs_bot": Token(), "ghs_read": Token(pull_requests="read")}).start()
    for key, value in fake.env("ghs_bot").items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.stop()


def test_pull_request_mode_pushes_a_branch_and_opens_one_pull_request(remote, tmp_path, github):
    from gates.deploy.gitops import promotion_branch, run_gitops

    plan = {"images": {"example/app": f"ghcr.io/acme/app@{DIGEST}"}}
    chosen = {**settings(remote), "mode": "pull-request"}
    result = run_gitops(plan, chosen, tmp_path)
    assert result.status.value == "pass" and result.summary["verdict"] == "pull_request"
    branch = promotion_branch([f"example/app=ghcr.io/acme/app@{DIGEST}"])
    assert branch.startswith("mlgate/promote-")
    # main is untouched; the branch holds the change
    assert git(remote, "rev-list", "--count", "main") == "1"
    assert f"digest: {DIGEST}" in git(remote, "show", f"{branch}:apps/prod/kustomization.yaml")
    [pull] = github.opened
    assert pull["head"]["ref"] == branch and pull["base"]["ref"] == "main"
    assert pull["title"] == f"mlgate: promote example/app=ghcr.io/acme/app@{DIGEST}"
    assert result.evidence["pull_request"]["number"] == pull["number"]
    # a re-run updates the branch and reports the open pull request instead of a second one
    again = run_gitops(plan, chosen, tmp_path)
    assert again.summary["verdict"] == "pull_request" and again.evidence["pull_request"]["reused"]
    assert len(github.opened) == 1


def test_pull_request_mode_without_permission_is_one_line_exit_2(remote, tmp_path, github, monkeypatch):
    from gates.deploy.gitops import run_gitops

    monkeypatch.setenv("GITHUB_TOKEN", "ghs_read")
    result = run_gitops(
        {"images": {"example/app": "ghcr.io/acme/app:v9"}},
        {**settings(remote), "mode": "pull-request"},
        tmp_path,
    )
    assert result.exit_code_hint == 2 and "pull_requests=write" in result.checks[0].why
    assert github.opened == []


def test_github_repository_is_named_or_read_from_the_url_or_the_environment():
    from gates.deploy.gitops import github_repository

    assert github_repository({"github_repository": "a/b"}, {}) == "a/b"
    assert github_repository({"repository": "https://github.com/acme/gitops.git"}, {}) == "acme/gitops"
    assert github_repository({"repository": "git@github.com:acme/gitops.git"}, {}) == "acme/gitops"
    assert github_repository({"repository": "/srv/git/x.git"}, {"GITHUB_REPOSITORY": "o/r"}) == "o/r"
    with pytest.raises(InputError, match="github_repository"):
        github_repository({"repository": "/srv/git/x.git"}, {})


def test_argocd_wait_needs_the_pushed_revision_synced_and_healthy():
    from gates.deploy.gitops import wait_argocd

    class Kube:
        def __init__(self, *statuses):
            self.statuses = iter(statuses)

        def get(self, api_version, kind, name, namespace):
            assert (api_version, kind, namespace) == ("argoproj.io/v1alpha1", "Application", "argocd")
            status = next(self.statuses)
            return None if status is None else {"status": status}

    healthy = {"sync": {"status": "Synced", "revision": "new"}, "health": {"status": "Healthy"}}
    kube = Kube(
        None,
        {"sync": {"status": "Synced", "revision": "old"}, "health": {"status": "Healthy"}},
        {"sync": {"status": "OutOfSync", "revision": "new"}, "health": {"status": "Healthy"}},
        {"sync": {"status": "Synced", "revision": "new"}, "health": {"status": "Progressing"}},
        healthy,
    )
    said: list[str] = []
    ok, why = wait_argocd(
        kube, "app", "argocd", "new", 60, said.append, clock=lambda: 0.0, sleep=lambda s: None
    )
    assert ok and "Synced at new and Healthy" in why
    assert [s.split("Argo CD: ", 1)[1] for s in said] == [
        "Application argocd/app not found",
        "synced at old, not new yet",
        "sync status OutOfSync at new",
        "synced at new, health Progressing",
    ]
    ticks = iter([0.0, 0.0, 100.0])
    ok, why = wait_argocd(
        Kube(healthy, healthy),
        "app",
        "argocd",
        "other",
        60,
        said.append,
        clock=lambda: next(ticks),
        sleep=lambda s: None,
    )
    assert not ok and "within 60 s" in why and "not other yet" in why


COMMENTED = """\
# production overlay: reviewed by the platform team
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]   # the app
images:
  # promoted by mlgate
  - name: example/app
    newTag: v1  # last good: v0
"""


def push_kustomization(bare: Path, tmp_path: Path, text: str) -> None:
    work = tmp_path / "edit"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / "apps/prod/kustomization.yaml").write_text(text)
    git(work, "commit", "--quiet", "-am", "by hand")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def test_the_commit_changes_only_the_image_lines(remote, tmp_path):
    """Comments, key order and layout of the kustomization survive the promotion: the commit's diff is the
    image's own lines (gates.deploy.kustomize_edit)."""
    push_kustomization(remote, tmp_path, COMMENTED)
    lines: list[str] = []
    done = commit_image(
        settings(remote), {"example/app": f"ghcr.io/acme/app@{DIGEST}"}, tmp_path, lines.append
    )
    assert done["changed"]
    committed = git(remote, "show", "main:apps/prod/kustomization.yaml")
    assert committed + "\n" == COMMENTED.replace(
        "    newTag: v1  # last good: v0",
        f"    digest: {DIGEST}  # last good: v0\n    newName: ghcr.io/acme/app",
    ), committed
    assert not any("rewritten from its parsed form" in line for line in lines)


def test_a_kustomization_with_duplicate_keys_is_refused(remote, tmp_path):
    push_kustomization(remote, tmp_path, COMMENTED + "images: []\n")
    with pytest.raises(InputError, match="duplicate key 'images'") as caught:
        commit_image(settings(remote), {"example/app": "ghcr.io/acme/app:v2"}, tmp_path, lambda _l: None)
    assert "\n" not in str(caught.value)


HEAD = "a" * 40
OLD = "b" * 40


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"sync": {"status": "Synced", "revision": HEAD}, "health": {"status": "Healthy"}}, None),
        ({"sync": {"status": "Synced", "revision": HEAD}, "health": {"status": "Progressing"}}, None),
        (
            {"sync": {"status": "Synced", "revision": OLD}, "health": {"status": "Degraded", "message": "x"}},
            None,
        ),
        (
            {
                "sync": {"revision": OLD},
                "operationState": {"phase": "Failed", "syncResult": {"revision": OLD}},
            },
            None,
        ),
        ({"operationState": {"phase": "Running", "operation": {"sync": {"revision": HEAD}}}}, None),
        (
            {"sync": {"revision": HEAD}, "health": {"status": "Degraded", "message": "crash\nloop"}},
            f"Degraded at {HEAD[:12]}: crash loop",
        ),
        (
            {
                "sync": {"revision": HEAD},
                "health": {"status": "Degraded"},
                "conditions": [{"type": "SyncError", "message": "quota"}],
            },
            f"Degraded at {HEAD[:12]}: SyncError: quota",
        ),
        (
            {
                "operationState": {
                    "phase": "Error",
                    "message": "boom",
                    "operation": {"sync": {"revision": HEAD}},
                }
            },
            f"sync Error at {HEAD[:12]}: boom",
        ),
        (
            {"operationState": {"phase": "Failed", "syncResult": {"revision": HEAD}}},
            f"sync Failed at {HEAD[:12]}: no message",
        ),
    ],
)
def test_argocd_failure_counts_only_evidence_about_the_pushed_commit(status, reason):
    from gates.deploy.gitops import argocd_failure

    assert argocd_failure(status, HEAD) == reason


def test_a_long_argo_message_stays_one_bounded_line():
    from gates.deploy.gitops import argocd_failure

    found = argocd_failure(
        {"sync": {"revision": HEAD}, "health": {"status": "Degraded", "message": "x\n" * 500}}, HEAD
    )
    assert found is not None and "\n" not in found and len(found) < 340
