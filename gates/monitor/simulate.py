"""Run lengths of the change detectors by simulation, vectorised across paths: the check of every ARL0 and
detection delay mlgate states (tests/monitor, bench/monitor_arl.py), so a stated number is never only a formula.
"""

from __future__ import annotations

import numpy as np


def run_lengths(
    kind: str,
    parameter: float,
    threshold: float,
    *,
    shift: float = 0.0,
    paths: int = 1000,
    horizon: int = 10_000,
    seed: int = 0,
    change_at: int = 0,
) -> np.ndarray:
    """Observations until the first alarm, for `paths` independent streams that are N(0, 1) up to observation
    `change_at` and N(shift, 1) after it. Paths that never alarm within `horizon` get horizon + 1 (censored).
    With change_at > 0, the detection delay of a path is its run length minus change_at (for paths that had
    not alarmed falsely before the change).

    kind "cusum": parameter k, threshold h; kind "page_hinkley": parameter delta, threshold lambda."""
    rng = np.random.default_rng(seed)
    alive = np.ones(paths, dtype=bool)
    lengths = np.full(paths, horizon + 1, dtype=np.int64)
    up = np.zeros(paths)
    down = np.zeros(paths)
    total = np.zeros(paths)
    up_min = np.zeros(paths)
    down_max = np.zeros(paths)
    for t in range(1, horizon + 1):
        z = rng.standard_normal(paths) + (shift if t > change_at else 0.0)
        if kind == "cusum":
            up = np.maximum(0.0, up + z - parameter)
            down = np.maximum(0.0, down - z - parameter)
            statistic = np.maximum(up, down)
        elif kind == "page_hinkley":
            total += z
            mean = total / t
            up += z - mean - parameter
            down += z - mean + parameter
            up_min = np.minimum(up_min, up)
            down_max = np.maximum(down_max, down)
            statistic = np.maximum(up - up_min, down_max - down)
        else:
            raise ValueError(f"unknown detector kind {kind!r}")
        fired = alive & (statistic > threshold)
        lengths[fired] = t
        alive &= ~fired
        if not alive.any():
            break
    return lengths
