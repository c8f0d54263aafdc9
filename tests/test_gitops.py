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
from gates.deploy.gitops import commit_image, set_image, shown, split_reference

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
