"""Progress on stderr: a redrawn line on a terminal, a plain line at most every PLAIN_EVERY seconds in CI logs
(none at all for quick work), nothing in quiet mode; never on stdout, never failing the work."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np

from gates.core import progress
from gates.resample import bootstrap
from gates.stats.bootstrap import Cells


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_mode_follows_environment_and_terminal():
    pipe = io.StringIO()
    assert progress.mode({}, pipe) == "lines"  # not a terminal: CI logs, files
    assert progress.mode({"MLGATE_PROGRESS": "off"}, pipe) == "off"
    assert progress.mode({"MLGATE_QUIET": "1", "MLGATE_PROGRESS": "bar"}, pipe) == "off"
    assert progress.mode({"MLGATE_PROGRESS": "bar"}, pipe) == "bar"
    assert progress.mode({"MLGATE_PROGRESS": "nonsense"}, pipe) == "lines"  # unknown: automatic
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            assert progress.mode({}, terminal) == "bar"
    finally:
        os.close(leader)
        os.close(follower)


def test_plain_lines_at_most_one_per_period_and_none_for_quick_work():
    clock, out = Clock(), io.StringIO()
    with progress.task("bootstrap", 1000, "resamples", stream=out, display="lines", clock=clock) as shown:
        for step in range(100):
            clock.now = step * 0.5  # 50 s of work in 100 updates
            shown.advance(10)
    lines = out.getvalue().splitlines()
    assert 4 <= len(lines) <= 6  # one per 10 s, plus the closing line
    assert lines[0].startswith("mlgate: bootstrap: ") and "resamples" in lines[0] and "%" in lines[0]
    assert lines[-1].endswith(", done") and "1,000 / 1,000 resamples (100%)" in lines[-1]
    quick = io.StringIO()
    with progress.task("reading x.csv", unit="rows", stream=quick, display="lines", clock=Clock()) as shown:
        shown.update(5_000_000)
    assert quick.getvalue() == ""  # done within the first period: nothing to say


def test_live_line_is_redrawn_and_cleared():
    clock, out = Clock(), io.StringIO()
    with progress.task("scanning models", 3, "files", stream=out, display="bar", clock=clock) as shown:
        for index in range(3):
            clock.now += 1
            shown.advance(note=f"model-{index}.pkl")
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 4 and "\n" not in text  # three redraws and the final clearing
    assert "3 / 3 files (100%), model-2.pkl" in text


def test_quiet_prints_nothing_and_a_broken_stream_never_fails_the_work():
    out = io.StringIO()
    with progress.task("work", 10, stream=out, display="off") as shown:
        shown.advance(10)
    assert out.getvalue() == ""
    closed = io.StringIO()
    closed.close()
    clock = Clock()
    with progress.task("work", 10, stream=closed, display="lines", clock=clock) as shown:
        clock.now = 60
        shown.advance(5)  # writing fails: the display stops, the work goes on
    assert shown.display == "off"
    assert list(progress.each([1, 2, 3], "items")) == [1, 2, 3]


def test_bootstrap_numbers_do_not_depend_on_the_display(monkeypatch):
    cells = Cells(columns={"x": np.arange(5.0)}, counts=np.array([3.0, 1, 4, 1, 5]))

    def mean(weights):
        return {"mean": weights @ cells.columns["x"] / weights.sum(axis=1)}

    monkeypatch.setenv("MLGATE_PROGRESS", "off")
    quiet = bootstrap(cells, mean, 500, 7)["mean"]
    monkeypatch.setenv("MLGATE_PROGRESS", "lines")
    shown = bootstrap(cells, mean, 500, 7)["mean"]
    assert np.array_equal(quiet, shown)


def test_a_gate_run_keeps_stdout_clean_and_stderr_quiet_when_asked(tmp_path):
    """End to end: in a pipe (CI) a quick run prints no progress; stdout holds only the verdict table."""
    repo = Path(__file__).resolve().parents[2]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    score = np.clip(0.4 * y + rng.normal(0.3, 0.2, 400), 0, 1)
    (tmp_path / "p.csv").write_text(
        "label,score\n" + "\n".join(f"{a},{b:.4f}" for a, b in zip(y, score)) + "\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLGATE_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "gates.cli", "--no-audit", "--report-dir", "r", "metrics"]
        + ["--predictions", "p.csv", "--min", "roc_auc=0.5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(repo)},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "mlgate: bootstrap" not in completed.stderr and "\r" not in completed.stdout
