"""The benchmarks' peak memory is each job's own (bench/common.py, bench/peak_hook): run by hand,

    python3 -m pytest -p no:benchmark -q bench/test_peak.py

A parent that holds 300 MB starts small jobs; wait4's ru_maxrss says >= 300 MB for them (Linux keeps the
high-water mark of the memory an exec replaces), the job's own report says what the job used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def measured_by_a_large_parent(tmp_path: Path, argv: list[str]) -> dict:
    """Run argv with bench.common.run_once from a process that holds 300 MB; also wait4's view of it."""
    script = textwrap.dedent(f"""
        import json, os, subprocess, sys
        sys.path.insert(0, {str(HERE)!r})
        import numpy as np
        from common import run_once
        ballast = np.ones(300 * 2**20 // 8)  # 300 MB, every page touched
        run = run_once({argv!r})
        proc = subprocess.Popen({argv!r})
        _, _, usage = os.wait4(proc.pid, 0)
        print(json.dumps({{"peak_mb": run.peak_mb, "exact": run.peak_exact, "code": run.code,
                           "wait4_mb": usage.ru_maxrss / 1024, "ballast": float(ballast[-1])}}))
    """)
    env = {**os.environ, "MLGATE_BENCH_CACHE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_small_job_of_a_large_parent_reports_its_own_small_peak(tmp_path):
    out = measured_by_a_large_parent(tmp_path, [sys.executable, "-c", "pass"])
    assert out["code"] == 0 and out["exact"]
    assert out["peak_mb"] < 60  # the interpreter alone: some 10-15 MB
    assert out["wait4_mb"] >= 300  # what the benchmark used to report: the parent's size


def test_the_peak_of_a_job_counts_the_children_it_waited_for(tmp_path):
    child = "import numpy as np; a = np.ones(200 * 2**20 // 8); print(a[-1])"
    job = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    out = measured_by_a_large_parent(tmp_path, [sys.executable, "-c", job])
    assert out["exact"] and 200 <= out["peak_mb"] < 290


def test_a_job_that_reports_nothing_gets_wait4s_upper_bound(tmp_path):
    out = measured_by_a_large_parent(tmp_path, ["/bin/sh", "-c", "true"])
    assert out["code"] == 0 and not out["exact"] and out["peak_mb"] >= 300
