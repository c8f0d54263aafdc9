"""GitOps promotion (`mlgate deploy --strategy gitops`): for clusters that Argo CD or Flux reconcile from git,
the release is a commit, not an apply. mlgate writes the new image into the `images:` of a kustomization in the
GitOps repository, commits and pushes it, then waits until the cluster runs it (the Deployment's rollout
complete at the new image: what the reconciler applied), so the canary analysis that follows judges the version
that was meant.

- The repository is cloned shallowly into a temporary folder with the git CLI (its own credentials: a
  credential helper, SSH agent or the token actions/checkout configured); URLs are shown without userinfo.
- The image is set as kustomize's `edit set image` sets it: `newName` and `digest` for `name@sha256:...`,
  `newName` and `newTag` for `name:tag`. An image already there means no commit (verdict unchanged), so a
  re-run converges. Only the image's own lines change: comments, key order and layout of the rest of the file
  stay byte for byte (gates.deploy.kustomize_edit).
- A push that loses a race (someone pushed first) is rebased and retried, a bounded number of times.
- ``mode: pull-request``: the commit goes to a branch named after the change (``mlgate/promote-<hash>``,
  force-pushed, so a re-run updates the same branch) and a pull request into the branch is opened through the
  GitHub API (or the open one for that branch is reported): a person merges the promotion. Nothing is waited
  for, since nothing is reconciled before the merge.
- The wait: the Deployment's rollout at the new image, and/or an Argo CD Application (read through the
  Kubernetes API: ``status.sync.status`` Synced at ``status.sync.revision`` == the pushed commit, and
  ``status.health.status`` Healthy), bounded by ``timeout_seconds``. An Application that has failed at the
  pushed commit (Degraded, or its sync operation Failed / Error) ends the wait at once with Argo's message: the
  bound would only delay the same verdict.
"""

from __future__ import annotations

import hashlib
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
from gates.deploy.kustomize_edit import set_images_text

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
                original = found.read_text(encoding="utf-8")
                document = yamlsafe.load(original) or {}
            except yaml.YAMLError as exc:
                raise InputError(
                    f"{shown(url)}: {relative}: not valid YAML ({getattr(exc, 'problem', exc)})"
                ) from None
            if not isinstance(document, dict):
                raise InputError(f"{shown(url)}: {relative}: not a kustomization (expected a mapping)")
            text, changes, in_place = set_images_text(original, document, images)
            if not changes:
                head = git("rev-parse", "HEAD").stdout.strip()
                return {
                    "changed": False,
                    "commit": head,
                    "file": relative,
                    "repository": shown(url),
                    "branch": branch,
                }
            if not in_place:
                say(
                    f"gitops: {relative} rewritten from its parsed form (a layout not edited in place): "
                    "its comments are lost"
                )
            found.write_text(text, encoding="utf-8")
            summary = {"file": relative, "repository": shown(url), "branch": branch, "images": changes}
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
            if settings.get("mode") == "pull-request":
                head_branch = promotion_branch(changes)
                git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{head_branch}")
                head = git("rev-parse", "HEAD").stdout.strip()
                say(f"gitops: pushed {head[:12]} to {shown(url)} {head_branch}: {', '.join(changes)}")
                return {
                    **summary,
                    "changed": True,
                    "commit": head,
                    "head_branch": head_branch,
                    "message": message,
                }
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


def promotion_branch(changes: list[str]) -> str:
    """The pull request's branch: named after what it changes, so a re-run of one promotion reuses it."""
    return "mlgate/promote-" + hashlib.sha256("\n".join(sorted(changes)).encode()).hexdigest()[:12]


def github_repository(settings: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """owner/name for the pull request: the policy's, else a github.com clone URL's, else GITHUB_REPOSITORY."""
    if settings.get("github_repository"):
        return str(settings["github_repository"])
    url = str(settings.get("repository") or "")
    found = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    if found:
        return found.group(1)
    if env.get("GITHUB_REPOSITORY"):
        return env["GITHUB_REPOSITORY"]
    raise InputError(
        "deploy.gitops.github_repository: needed for a pull request (owner/name) when the repository is not "
        "a github.com URL and GITHUB_REPOSITORY is not set"
    )


def open_pull_request(
    settings: Mapping[str, Any], committed: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Open the promotion's pull request, or find the one already open for its branch (a re-run)."""
    from gates.core.github_api import ApiError, GitHubClient

    env = os.environ if env is None else env
    repository = github_repository(settings, env)
    client = GitHubClient.from_env(env)
    owner = repository.split("/")[0]
    head, base = committed["head_branch"], committed["branch"]
    try:
        found = client.open_pull_requests(repository, f"{owner}:{head}", base)
        pull = found[0] if found else None
        if pull is None:
            body = "Promotion by mlgate deploy --strategy gitops:\n\n" + "\n".join(
                f"- `{change}`" for change in committed["images"]
            )
            pull = client.create_pull_request(repository, head, base, committed["message"], body)
    except ApiError as exc:
        raise InputError(f"pull request in {repository}: {exc.describe()}") from None
    return {
        "repository": repository,
        "number": pull.get("number"),
        "url": pull.get("html_url"),
        "head": head,
        "base": base,
        "reused": bool(found),
    }


ARGO_FAILED_PHASES = ("Failed", "Error")


def one_line(text: str, limit: int = 300) -> str:
    """Argo's messages can span lines (a kubectl apply error); the report's reason is one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def argocd_failure(status: Mapping[str, Any], revision: str) -> str | None:
    """Why the Application has failed at ``revision`` for good, or None while it may still become Healthy.

    Only evidence about the pushed commit counts: a Degraded health left over from the previous revision, or a
    failed sync of an older commit, says nothing about this one (Argo has not compared it yet), so the wait goes
    on. At ``revision``, a sync operation that ended Failed or Error has spent the retries of its sync policy
    (while retrying its phase stays Running), and Argo reports an application Degraded only when a resource
    has failed (a Deployment past its progress deadline, a failed Job), so waiting out the bound would only
    delay the same verdict.
    """
    sync, health = status.get("sync") or {}, status.get("health") or {}
    operation = status.get("operationState") or {}
    conditions = "; ".join(
        f"{c.get('type', 'condition')}: {c.get('message', '')}"
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    )
    operated = (operation.get("syncResult") or {}).get("revision") or (
        (operation.get("operation") or {}).get("sync") or {}
    ).get("revision")
    if operation.get("phase") in ARGO_FAILED_PHASES and operated == revision:
        said = operation.get("message") or conditions or "no message"
        return f"sync {operation['phase']} at {revision[:12]}: {one_line(str(said))}"
    if health.get("status") == "Degraded" and sync.get("revision") == revision:
        said = health.get("message") or operation.get("message") or conditions or "no message"
        return f"Degraded at {revision[:12]}: {one_line(str(said))}"
    return None


def wait_argocd(
    kube: Any,
    name: str,
    namespace: str,
    revision: str,
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """Poll the Argo CD Application until it is Synced at ``revision`` and Healthy (bounded); stop at once
    when it has failed at ``revision`` (argocd_failure), with Argo's own message."""
    deadline = clock() + timeout
    while True:
        app = kube.get("argoproj.io/v1alpha1", "Application", name, namespace)
        status = (app or {}).get("status") or {}
        sync, health = status.get("sync") or {}, status.get("health") or {}
        failed = argocd_failure(status, revision) if app is not None else None
        if failed:
            return False, f"Argo CD Application {namespace}/{name}: {failed}"
        if app is None:
            last = f"Application {namespace}/{name} not found"
        elif sync.get("revision") != revision:
            last = f"synced at {str(sync.get('revision') or 'no revision')[:12]}, not {revision[:12]} yet"
        elif sync.get("status") != "Synced":
            last = f"sync status {sync.get('status') or 'unknown'} at {revision[:12]}"
        elif health.get("status") != "Healthy":
            last = f"synced at {revision[:12]}, health {health.get('status') or 'unknown'}"
        else:
            return True, f"Argo CD Application {name}: Synced at {revision[:12]} and Healthy"
        if clock() >= deadline:
            return False, f"Argo CD Application {name}: not Synced and Healthy within {timeout:g} s: {last}"
        say(f"gitops: waiting for Argo CD: {last}")
        sleep(2.0)


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
        timeout = float(wait.get("timeout_seconds", 600))
        if committed.get("head_branch"):
            pull = open_pull_request(settings, committed)
            evidence["pull_request"] = pull
            verb = "already open" if pull["reused"] else "opened"
            checks.append(
                Check(
                    "pull request",
                    Status.PASS,
                    f"{verb}: {pull['url'] or pull['number']}",
                    value=pull["number"],
                )
            )
            say(f"gitops: pull request {verb}: {pull['url']}; nothing is reconciled before it is merged")
        elif wait.get("deployment") or wait.get("argocd_application"):
            from gates.deploy.kube import connect

            kube = kube or connect(kubeconfig, context)
            argo_failed = False
            if wait.get("argocd_application"):
                ok, why = wait_argocd(
                    kube,
                    wait["argocd_application"],
                    wait.get("argocd_namespace") or "argocd",
                    committed["commit"],
                    timeout,
                    say,
                )
                checks.append(Check("argocd", Status.PASS if ok else Status.FAIL, why))
                argo_failed = not ok
            if wait.get("deployment") and not argo_failed:  # a failed Application will not reconcile it
                ok, why = wait_reconciled(
                    kube,
                    wait["deployment"],
                    wait.get("namespace") or plan.get("namespace") or "default",
                    images,
                    timeout,
                    say,
                )
                checks.append(Check("reconciled", Status.PASS if ok else Status.FAIL, why))
    except InputError as exc:
        return error_result("deploy", str(exc), 2, evidence)
    except InfraError as exc:
        return error_result("deploy", str(exc), 3, evidence)
    verdict = (
        "pull_request"
        if committed.get("head_branch")
        else "committed"
        if committed["changed"]
        else "unchanged"
    )
    return GateResult(
        "deploy",
        checks=checks,
        evidence=evidence,
        summary={"strategy": "gitops", "verdict": verdict, "image": ", ".join(images.values())},
    )
