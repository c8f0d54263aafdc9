"""Sequential change detection on a stream of standardised observations, with false alarms controlled over time.

Every observation z_t is a block statistic standardised so that, while nothing changes, z_t ~ N(0, 1)
(for a block mean: (mean - mu0) / (sd0 / sqrt(m)), normal by the central limit theorem). A fixed-sample test
repeated on every block would raise a false alarm every 1/alpha blocks whatever alpha says; a sequential
detector states its false-alarm behaviour instead as the in-control average run length ARL0 (blocks between
false alarms) and its speed as the detection delay for a given shift.

- CUSUM (Page, 1954), two-sided, reference value k, threshold h: S+ = max(0, S+ + z - k), S- = max(0, S- - z - k),
  alarm when either exceeds h. It detects departures from the *reference* (mu0). h for a target ARL0 comes from
  Siegmund's approximation, ARL(k, h) = (exp(2 k b) - 2 k b - 1) / (2 k^2) with b = h + 1.166 for one side
  (1/ARL0 = 1/ARL+ + 1/ARL- for two), which tests/monitor and bench/monitor_arl.py check by simulation.
- Page-Hinkley (Page 1954; Hinkley 1971; the data-stream form of Gama et al.), two-sided, tolerance delta,
  threshold lambda: cumulated deviations from the stream's own running mean. It needs no reference mean, so it
  detects a change relative to the stream's own past (a training reference that differs a little from live
  traffic from day one does not make it alarm forever). Its ARL0 has no closed form: lambda is calibrated by
  simulation under N(0, 1) with a fixed seed, from the near-geometric law of long run lengths
  (P(RL <= ARL0) ~ 1 - 1/e).

Both reset after an alarm. Pure numpy / scipy; the state of each detector is a few floats (JSON).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Siegmund (1985): the overshoot correction of the threshold for normal increments
SIEGMUND_CORRECTION = 1.166
# Thresholds are set for a slightly longer ARL0 than asked: simulation (bench/monitor_arl.py) finds Siegmund's
# two-sided ARL0 about 3 % optimistic and the Page-Hinkley calibration 5-8 % optimistic at ARL0 >= 1000, so the
# margins keep the stated ARL0 a floor rather than an estimate that false alarms may beat.
CUSUM_MARGIN = 1.05
PH_MARGIN = 1.12
PH_SIMULATION_PATHS = 4000
SIMULATION_CELLS = 12_000_000  # simulated running maxima held at once (48 MB as float32)
CHUNK_CELLS = 500_000  # float64 intermediates computed at once
PH_SEED = 20240501


def cusum_arl(k: float, h: float, shift: float = 0.0, sides: int = 2) -> float:
    """Average run length of CUSUM(k, h) when the observations are N(shift, 1) (Siegmund's approximation).

    shift 0 gives ARL0 (two sides: both directions can alarm); shift != 0 gives the detection delay of the side
    that sees it (the other side almost never alarms then)."""
    b = h + SIEGMUND_CORRECTION

    def one_side(drift: float) -> float:
        if abs(drift) < 1e-9:
            return b * b
        return (math.exp(-2 * drift * b) + 2 * drift * b - 1) / (2 * drift * drift)

    if shift == 0.0:
        one = one_side(-k)
        return one / sides
    return one_side(abs(shift) - k)


def cusum_threshold(k: float, arl0: float, sides: int = 2) -> float:
    """The h whose ARL0 (Siegmund) is `arl0` (times CUSUM_MARGIN): bisection, the ARL rises with h."""
    if arl0 <= 1:
        raise ValueError("arl0 must be > 1 observation")
    arl0 *= CUSUM_MARGIN
    low, high = 0.0, 1.0
    while cusum_arl(k, high, sides=sides) < arl0:
        high *= 2
        if high > 1e4:
            raise ValueError(f"no threshold reaches ARL0 {arl0:g} with k {k:g}")
    for _ in range(100):
        mid = (low + high) / 2
        if cusum_arl(k, mid, sides=sides) < arl0:
            low = mid
        else:
            high = mid
    return high


def page_hinkley_paths(z: np.ndarray, delta: float) -> np.ndarray:
    """The two-sided Page-Hinkley statistic after every observation, for each row of `z` (paths x time)."""
    t = np.arange(1, z.shape[1] + 1)
    running_mean = np.cumsum(z, axis=1) / t
    up = np.cumsum(z - running_mean - delta, axis=1)
    down = np.cumsum(z - running_mean + delta, axis=1)
    return np.maximum(
        up - np.minimum.accumulate(np.minimum(up, 0), axis=1),
        np.maximum.accumulate(np.maximum(down, 0), axis=1) - down,
    )


def page_hinkley_threshold(delta: float, arl0: float, seed: int = PH_SEED) -> float:
    """lambda whose ARL0 under N(0, 1) is `arl0`, by simulation with a fixed seed (same inputs, same lambda).

    Paths are simulated over a horizon H = 1.5 ARL0; for a candidate lambda, E[min(RL, H)] / P(RL <= H) estimates
    the ARL (exact for a memoryless run length, and long run lengths are nearly so), and bisection finds the
    lambda where it equals `arl0` times PH_MARGIN. Memory is bounded (at most SIMULATION_CELLS values)."""
    arl0 *= PH_MARGIN
    horizon = max(2, math.ceil(1.5 * arl0))
    paths = int(min(PH_SIMULATION_PATHS, max(400, SIMULATION_CELLS // horizon)))
    rng = np.random.default_rng(seed)
    running_max = np.empty((paths, horizon), dtype=np.float32)
    rows = max(1, CHUNK_CELLS // horizon)  # float64 intermediates for this many paths at a time
    for start in range(0, paths, rows):
        stop = min(paths, start + rows)
        statistic = page_hinkley_paths(rng.standard_normal((stop - start, horizon)), delta)
        running_max[start:stop] = np.maximum.accumulate(statistic, axis=1)

    def arl(lam: float) -> float:
        crossed = running_max > lam
        fired = crossed[:, -1]
        if not fired.any():
            return math.inf
        first = np.where(fired, crossed.argmax(axis=1) + 1, horizon)
        return float(first.mean() / fired.mean())

    low, high = 0.0, float(running_max[:, -1].max())
    for _ in range(40):
        mid = (low + high) / 2
        if arl(mid) < arl0:
            low = mid
        else:
            high = mid
    return high


@dataclass
class Cusum:
    """Two-sided CUSUM on standardised observations; `h` from cusum_threshold for the stated ARL0."""

    k: float
    h: float
    up: float = 0.0
    down: float = 0.0
    seen: int = 0
    kind: str = field(default="cusum", init=False)

    def update(self, z: float) -> bool:
        self.seen += 1
        self.up = max(0.0, self.up + z - self.k)
        self.down = max(0.0, self.down - z - self.k)
        if self.up > self.h or self.down > self.h:
            self.reset()
            return True
        return False

    def reset(self) -> None:
        self.up = self.down = 0.0

    @property
    def statistic(self) -> float:
        return max(self.up, self.down)

    @property
    def threshold(self) -> float:
        return self.h

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PageHinkley:
    """Two-sided Page-Hinkley around the stream's running mean; `lam` from page_hinkley_threshold."""

    delta: float
    lam: float
    n: int = 0
    total: float = 0.0
    up: float = 0.0
    up_min: float = 0.0
    down: float = 0.0
    down_max: float = 0.0
    seen: int = 0
    kind: str = field(default="page_hinkley", init=False)

    def update(self, z: float) -> bool:
        self.seen += 1
        self.n += 1
        self.total += z
        mean = self.total / self.n
        self.up += z - mean - self.delta
        self.down += z - mean + self.delta
        self.up_min = min(self.up_min, self.up)
        self.down_max = max(self.down_max, self.down)
        if self.statistic > self.lam:
            self.reset()
            return True
        return False

    def reset(self) -> None:
        self.n, self.total, self.up, self.up_min, self.down, self.down_max = 0, 0.0, 0.0, 0.0, 0.0, 0.0

    @property
    def statistic(self) -> float:
        return max(self.up - self.up_min, self.down_max - self.down)

    @property
    def threshold(self) -> float:
        return self.lam

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Detector = Cusum | PageHinkley


def detector_from_dict(data: dict[str, Any]) -> Detector:
    """Rebuild a detector from its state (KeyError / TypeError / ValueError on a damaged one)."""
    values = {k: v for k, v in data.items() if k != "kind"}
    kind = data["kind"]
    if kind == "cusum":
        return Cusum(**values)
    if kind == "page_hinkley":
        return PageHinkley(**values)
    raise ValueError(f"unknown detector kind {kind!r}")
