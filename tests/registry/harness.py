"""A real MLflow tracking server for the registry tests, and the example credit models registered in it.

    with MlflowServer(tmp) as server:      # `mlflow server` (mlflow 3.17.2) on 127.0.0.1, SQLite backend
        server.url                         # http://127.0.0.1:PORT, artifacts proxied (mlflow-artifacts:/)

Start-up waits for /health with a bound; stop() sends SIGTERM to the server's process group, then SIGKILL.
`register_credit_models(uri)` is the example project's own registration (examples/credit/register.py): two
scikit-learn pipelines, versions 1 (weaker: four numeric inputs) and 2 (all inputs) of `credit`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from tests.ports import free_port

if TYPE_CHECKING:
    from typing_extensions import Self

from examples.credit.register import register_credit_models

__all__ = ["MlflowServer", "evaluation_table", "register_credit_models"]


def mlflow_binary() -> str | None:
    candidate = Path(sys.executable).with_name("mlflow")
    return str(candidate) if candidate.is_file() else shutil.which("mlflow")


class MlflowServer:
    def __init__(self, root: Path, ready_timeout: float = 60.0) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> Self:
        binary = mlflow_binary()
        assert binary, "mlflow is not installed"
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "server.log").open("wb")
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            [
                binary, "server",
                "--backend-store-uri", f"sqlite:///{self.root / 'backend.db'}",
                "--artifacts-destination", str(self.root / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=self.root,
        )  # fmt: skip
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy within {self.ready_timeout} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def evaluation_table(path: Path, rows: int = 1500, seed: int = 2) -> Path:
    """The example project's test sample (seed 2) with the label `default` and the sensitive columns."""
    from examples.credit import data

    data.generate(rows, seed).to_csv(path, index=False)
    return path
