"""Install size and time of each action's dependency family (requirements/actions-EXTRA.lock), as an action
installs it: a new virtual environment, `pip install --require-hashes -r LOCK`, then mlgate without
dependencies. Writes bench/results/install_size.md.

Time is measured with pip's download cache warm (what the actions' cache gives from the second run on), so it
is the install itself, not the network; size is the virtual environment's site-packages on disk.

    python bench/install_size.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("core", "security", "model", "deploy", "registry", "all")


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def measure(extra: str) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(where)
        python = where / "bin" / "python"
        before = _size(where)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        lock = ROOT / "requirements" / f"actions-{extra}.lock"
        start = time.perf_counter()
        subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(lock)], check=True)
        subprocess.run([*pip, "--no-deps", "--no-build-isolation", str(ROOT)], check=True)
        seconds = time.perf_counter() - start
        packages = sum(1 for line in lock.read_text().splitlines() if line[:1].isalnum())
        return seconds, _size(where) - before, packages


def main() -> None:
    rows = [
        "| family (lock) | actions | packages | installed size | install time (warm cache) |",
        "|---|---|---|---|---|",
    ]
    users = {
        "core": "tests",
        "security": "security",
        "model": "model-metrics, bias, data-drift",
        "deploy": "deploy, validate-deployment, canary",
        "registry": "registry",
        "all": "root action (every gate), setup",
    }
    for extra in EXTRAS:
        measure(extra)  # once to warm pip's cache, then the measured run
        seconds, size, packages = measure(extra)
        rows.append(f"| {extra} | {users[extra]} | {packages} | {size / 2**20:.0f} MiB | {seconds:.1f} s |")
        print(rows[-1], flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, cwd=ROOT
    ).stdout
    text = (
        f"# Install size and time per action family\n\nMeasured by bench/install_size.py at commit {commit.strip()} "
        f"on {os.cpu_count()} cores, Python {sys.version.split()[0]}, Linux x86_64.\n\n"
        + "\n".join(rows)
        + "\n"
    )
    (ROOT / "bench" / "results" / "install_size.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
