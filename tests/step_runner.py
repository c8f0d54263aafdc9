"""Run one `run:` step of an action or workflow the way GitHub's runner does, and read what it wrote.

The runner writes the step's script to a file and runs `bash --noprofile --norc -eo pipefail FILE` with the
step's environment; outputs are `name=value` lines appended to the file named by GITHUB_OUTPUT. Every test that
executes a step goes through here, so a change in how the runner runs steps changes one place.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)  # GITHUB_OUTPUT's name=value lines

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


def run_step(
    script: str, env: dict[str, str], workdir: Path, *, cwd: Path | None = None, timeout: float = 30
) -> StepRun:
    """Run `script` as a step with exactly `env` (nothing inherited); `workdir` holds the script file."""
    path = workdir / "step.sh"
    path.write_text(script)
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    output = Path(env["GITHUB_OUTPUT"]) if "GITHUB_OUTPUT" in env else None
    outputs = (
        dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        if output is not None and output.exists()
        else {}
    )
    return StepRun(proc.returncode, proc.stdout, proc.stderr, outputs)
