"""The docs site builds without a warning, and its reference pages are what the code says today.

The CLI, policy and action references are generated (scripts/gen_docs.py); a flag, a policy key or an action
input that changes without the docs fails here, and so does a page with a broken link (mkdocs --strict)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_reference_pages_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "reference" / "cli" / "index.html").is_file()


def test_the_policy_reference_shows_the_defaults_the_settings_models_hold() -> None:
    """The defaults live once, in gates/core/settings; the schema and this page are generated from them."""
    page = (ROOT / "docs" / "reference" / "policy.md").read_text(encoding="utf-8")
    for row in (
        '| `latency.column` | string | `"latency_ms"` |',
        "| `drift.share` | number | `0.5` |",
        "| `validate_deployment.requests` | integer | `500` |",
        '| `canary.analysis.judges` | array | `["sequential", "threshold"]` |',
    ):
        assert row in page, row
