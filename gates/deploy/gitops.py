"""GitOps promotion (`mlgate deploy --strategy gitops`): for clusters that Argo CD or Flux reconcile from git,
the release is a commit, not an apply. mlgate writes the new image into the `images:` of a kustomization in the
GitOps repository, commits and pushes it, then waits until the cluster runs it (the Deployment's rollout
complete at the new image: what the reconciler applied), so the canary analysis that follows judges the version
that was meant.

- The repository is cloned shallowly into a temporary folder with the git CLI (its own credentials: a
  credential helper, SSH agent or the token actions/checkout configured); URLs are shown without userinfo.
- The image is set as kustomize's `edit set image` sets it: `newName` and `digest` for `name@sha256:...`,
  `newName` and `newTag` for `name:tag`. An image already there means no commit (verdict unchanged), so a
  re-run converges. The file is rewritten from its parsed form (key order kept; comments are not).
- A push that loses a race (someone pushed first) is rebased and retried, a bounded number of times.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from gates.core import yamlsafe
from gates.core.errors import InfraError, InputError
from gates.core.result import Check, GateResult, Status, error_result

PUSH_ATTEMPTS = 3
GIT_TIMEOUT = 120
AUTHOR = "mlgate <mlgate@users.noreply.github.com>"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def shown(url: str) -> str:
    """The repository URL without user or token, for messages and reports."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def split_reference(reference: str) -> dict[str, str]:
    """kustomize image fields for a reference: newName plus digest (name@sha256:...) or newTag (name:tag)."""
    name, at, digest = reference.partition("@")
    if at:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise InputError(f"image {reference!r}: expected NAME@sha256:<64 hex digits>")
        return {"newName": name, "digest": digest}
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return {"newName": name[:colon], "newTag": name[colon + 1 :]}
    raise InputError(f"image {reference!r}: give a tag or, better, a digest (NAME@sha256:...)")


def set_image(document: dict[str, Any], name: str, reference: str) -> bool:
    """Set image `name` in a kustomization's `images:`; True when the document changed."""
    fields = split_reference(reference)
    images = document.setdefault("images", [])
    if not isinstance(images, list):
        raise InputError("kustomization: 'images' is not a list")
    entry = next((e for e in images if isinstance(e, dict) and e.get("name") == name), None)
    if entry is None:
        images.append({"name": name, **fields})
        return True
    before = dict(entry)
    for key in ("newName", "newTag", "digest"):
        entry.pop(key, None)
    entry.update(fields)
    return entry != before


class Git:
    """The git CLI in one working folder, with bounded time and messages that never show credentials."""

    def __init__(self, folder: Path, url: str):
        self.folder = folder
        self.url = url

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.folder,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                env=env,
                check=False,
            )
        except FileNotFoundError:
            raise InputError("git is not installed: GitOps promotion needs the git command") from None
        except subprocess.TimeoutExpired:
            raise InfraError(
                f"git {args[0]} on {shown(self.url)}: no answer within {GIT_TIMEOUT} s"
            ) from None
        if check and done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1].replace(self.url, shown(self.url))
            raise InfraError(f"git {args[0]} on {shown(self.url)} failed: {last}")
        return done


def commit_image(
    settings: Mapping[str, Any], images: Mapping[str, str], base_dir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """Clone, set the images, commit and push; returns what happened (commit, file, changes)."""
    url = str(settings["repository"])
    if "://" not in url and not url.startswith("git@"):
        url = str((base_dir / url).resolve())
    branch = settings.get("branch", "main")
    with tempfile.TemporaryDirectory(prefix="mlgate-gitops-") as temporary:
        work = Path(temporary) / "repo"
        Git(Path(temporary), url)("clone", "--quiet", "--depth", "1", "--branch", branch, url, str(work))
        git = Git(work, url)
        folder = work / settings["path"]
        found = next((folder / n for n in KUSTOMIZATION_NAMES if (folder / n).is_file()), None)
        if found is None:
            raise InputError(f"{shown(url)}: no kustomization.yaml in {settings['path']} on branch {branch}")
        relative = str(found.relative_to(work))
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                document = yamlsafe.load(found.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise InputError(
                    f"{shown(url)}: {relative}: not valid YAML ({getattr(exc, 'problem', exc)})"
                ) from None
            if not isinstance(document, dict):
                raise InputError(f"{shown(url)}: {relative}: not a kustomization (expected a mapping)")
            changes = [f"{n}={ref}" for n, ref in images.items() if set_image(document, n, ref)]
            if not changes:
                head = git("rev-parse", "HEAD").stdout.strip()
                return {
                    "changed": False,
                    "commit": head,
                    "file": relative,
                    "repository": shown(url),
                    "branch": branch,
                }
            found.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            message = str(settings.get("message") or "mlgate: promote {images}").format(
                images=", ".join(changes)
            )
            author = str(settings.get("author") or AUTHOR)
            name, _, email = author.partition(" <")
            git(
                "-c",
                f"user.name={name}",
                "-c",
                f"user.email={email.rstrip('>')}",
                "commit",
                "--quiet",
                "-am",
                message,
            )
            pushed = git("push", "--quiet", "origin", f"HEAD:{branch}", check=False)
            if pushed.returncode == 0:
                head = git("rev-parse", "HEAD").stdout.strip()
                say(f"gitops: pushed {head[:12]} to {shown(url)} {branch}: {', '.join(changes)}")
                return {
                    "changed": True,
                    "commit": head,
                    "file": relative,
                    "repository": shown(url),
                    "branch": branch,
                    "images": changes,
                    "attempts": attempt,
                }
            say(f"gitops: push to {branch} lost a race (attempt {attempt}); re-reading the branch")
            git("fetch", "--quiet", "--depth", "1", "origin", branch)
            git("reset", "--quiet", "--hard", "FETCH_HEAD")
        raise InfraError(f"git push to {shown(url)} {branch}: still behind after {PUSH_ATTEMPTS} attempts")


def wait_reconciled(
    kube: Any,
    name: str,
    namespace: str,
    images: Mapping[str, str],
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """Poll the Deployment until its template runs the new images and its rollout is complete (bounded)."""
    from gates.deploy.rollout import rollout_state

    wanted = set(images.values())
    deadline = clock() + timeout
    last = "not found"
    while True:
        deployment = kube.get("apps/v1", "Deployment", name, namespace)
        if deployment is not None:
            running = {c.get("image") for c in deployment["spec"]["template"]["spec"].get("containers") or []}
            if not wanted <= running:
                last = f"the Deployment still runs {', '.join(sorted(running))}"
            else:
                state = rollout_state(deployment)
                if state.done:
                    return True, f"the cluster runs {', '.join(sorted(wanted))}: {state.message}"
                last = state.message
        if clock() >= deadline:
            return False, f"not reconciled within {timeout:g} s: {last}"
        say(f"gitops: waiting for the reconciler: {last}")
        sleep(2.0)


def run_gitops(
    plan: Mapping[str, Any],
    settings: Mapping[str, Any],
    base_dir: Path,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    kube: Any = None,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """Commit the images to the GitOps repository, then wait for the reconciled Deployment: one GateResult."""
    say = progress or (lambda _line: None)
    images = dict(plan["images"])
    evidence: dict[str, Any] = {"strategy": "gitops", "images": images}
    if not images:
        return error_result("deploy", "gitops: give the image to promote (--image NAME=REF)", 2, evidence)
    try:
        if not settings.get("repository") or not settings.get("path"):
            raise InputError("deploy.gitops: needs repository and path (the folder of the kustomization)")
        committed = commit_image(settings, images, base_dir, say)
        evidence["commit"] = committed
        verb = "committed" if committed["changed"] else "already in"
        checks = [
            Check(
                "commit",
                Status.PASS,
                f"{verb} {committed['repository']} {committed['branch']} {committed['file']} at {committed['commit'][:12]}",
                value=committed["commit"],
            )
        ]
        wait = settings.get("wait") or {}
        if wait.get("deployment"):
            from gates.deploy.kube import connect

            kube = kube or connect(kubeconfig, context)
            ok, why = wait_reconciled(
                kube,
                wait["deployment"],
                wait.get("namespace") or plan.get("namespace") or "default",
                images,
                float(wait.get("timeout_seconds", 600)),
                say,
            )
            checks.append(Check("reconciled", Status.PASS if ok else Status.FAIL, why))
    except InputError as exc:
        return error_result("deploy", str(exc), 2, evidence)
    except InfraError as exc:
        return error_result("deploy", str(exc), 3, evidence)
    verdict = "committed" if committed["changed"] else "unchanged"
    return GateResult(
        "deploy",
        checks=checks,
        evidence=evidence,
        summary={"strategy": "gitops", "verdict": verdict, "image": ", ".join(images.values())},
    )
