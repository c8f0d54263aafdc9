"""bench/scale.py's regression check, run by hand (not the product's tests):

    python3 -m pytest -p no:benchmark -q bench/test_scale.py

The verdict of --quick on known ratios (over 1.25x the stored one fails, the noise printed), and the bench's
own slowdown knob: the wrapper it puts around a gate run makes the job do that much more work (CPU time).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale
from common import run_once


def results(local: float, duckdb: float) -> dict:
    def gate(ratio: float) -> dict:
        return {"cpu_ratio": ratio, "cpu_noise": 0.1, "ratio": ratio, "noise": 0.2, "floor_seconds": 1.0}

    return {"gates: local": gate(local), "gates: duckdb": gate(duckdb)}


def test_quick_verdict(tmp_path, capsys):
    stored = tmp_path / "scale.json"
    stored.write_text(json.dumps({"cpu_ratios": {"1000000": {"local": 2.0, "duckdb": 4.0}}}))
    assert scale.compare(results(2.4, 4.9), stored) == 0  # 1.2x and 1.23x the stored ratios: noise
    assert scale.compare(results(2.6, 4.0), stored) == 1  # 1.3x: a regression
    assert "local: gate / floor CPU 2.60x, stored 2.00x" in capsys.readouterr().out
    assert scale.compare(results(2.0, 4.0), tmp_path / "none.json") == 2


def test_slowdown_wrapper_stretches_the_job(tmp_path):
    wrapper = scale.script(tmp_path, "slowed", scale.SLOWED)
    busy = [
        sys.executable,
        "-c",
        "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass",
    ]
    start = time.perf_counter()
    plain = run_once(busy)
    slowed = run_once([*wrapper, "1.5", *busy])
    assert plain.code == slowed.code == 0
    assert slowed.cpu_seconds >= 1.45 * 0.6 and slowed.seconds >= 1.45 * 0.6
    assert time.perf_counter() - start < 20
