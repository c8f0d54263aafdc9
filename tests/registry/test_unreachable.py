"""A tracking server that is down or answers 5xx: exit 3 within a bounded time, one line, no credential in any
output, and nothing changed in the registry."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ports import free_port

SECRET = "s3cr3t-token-value"


class _Unavailable(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"upstream unavailable"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unavailable_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _report(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"status": "pass", "gates": [{"gate": "metrics", "checks": []}]}))
    return path


@pytest.mark.parametrize("kind", ["down", "503"])
def test_unreachable_server_is_exit_3_and_changes_nothing(
    kind: str, cli, tmp_path: Path, sqlite_registry, request: pytest.FixtureRequest
) -> None:
    url = (
        f"http://127.0.0.1:{free_port()}" if kind == "down" else request.getfixturevalue("unavailable_server")
    )
    url = url.replace("http://", f"http://user:{SECRET}@")
    before = sqlite_registry.aliases()
    started = time.monotonic()
    result = cli(
        "registry", "promote", "--tracking-uri", url, "--model", "credit", "--report", _report(tmp_path),
        env={"MLFLOW_TRACKING_TOKEN": SECRET},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.code == 3, result.stdout + result.stderr
    assert len(result.stderr_lines) == 1 and "nothing was changed" in result.stderr
    assert elapsed < 30  # two retries with short backoff, not MLflow's default of 7 with 120 s timeouts
    everything = (
        result.stdout
        + result.stderr
        + "".join(
            p.read_text(errors="replace") for p in (tmp_path / "mlgate-reports").rglob("*") if p.is_file()
        )
    )
    assert SECRET not in everything
    assert sqlite_registry.aliases() == before


def test_evaluate_against_a_dead_server_is_exit_3(cli, tmp_path: Path) -> None:
    (tmp_path / "eval.csv").write_text("default,age\n1,30\n")
    result = cli(
        "registry", "evaluate", "--tracking-uri", f"http://127.0.0.1:{free_port()}", "--retries", "0",
        "--candidate", "models:/credit@challenger", "--data", "eval.csv",
    )  # fmt: skip
    assert result.code == 3, result.stdout + result.stderr
    report = json.loads((tmp_path / "mlgate-reports" / "mlgate.json").read_text())
    assert report["status"] == "error"


def test_missing_sqlite_file_is_bad_input_and_creates_nothing(cli, tmp_path: Path) -> None:
    result = cli("registry", "rollback", "--model", "credit", "--tracking-uri", "sqlite:///nothing-here.db")
    assert result.code == 2 and "nothing-here.db does not exist" in result.stderr
    assert not (tmp_path / "nothing-here.db").exists()
