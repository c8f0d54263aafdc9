"""The looks of the sequential judge: each analysis' cumulative counts or bucket counts (what the judge records in
``details.look`` and continues from at the next analysis), and the increments between consecutive looks that the
sequential tests multiply over. Kept apart from the judge's decisions (gates.deploy.sequential): this is the
bookkeeping that makes a re-run after an interruption continue the same sequences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gates.deploy.evidence import Counts, Histogram
from gates.deploy.verdicts import Observation
from gates.stats.sequential import Increment


@dataclass(frozen=True)
class Look:
    """One look's cumulative counts: errors and requests (``ratio``), or cumulative bucket counts at the bucket
    bounds ``le`` (``quantile``; requests are the last bucket)."""

    canary_events: float = 0.0
    canary_trials: float = 0.0
    stable_events: float = 0.0
    stable_trials: float = 0.0
    le: tuple[float, ...] = ()
    canary_buckets: tuple[float, ...] = ()
    stable_buckets: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Look:
        def floats(key: str) -> tuple[float, ...]:
            return tuple(math.inf if x == "+Inf" else float(x) for x in d.get(key) or ())

        return cls(
            float(d.get("canary_events", 0.0)),
            float(d.get("canary_trials", 0.0)),
            float(d.get("stable_events", 0.0)),
            float(d.get("stable_trials", 0.0)),
            floats("le"),
            floats("canary_buckets"),
            floats("stable_buckets"),
        )

    def to_dict(self) -> dict[str, Any]:
        if self.le:
            return {
                "le": ["+Inf" if math.isinf(b) else b for b in self.le],
                "canary_buckets": [round(x, 3) for x in self.canary_buckets],
                "stable_buckets": [round(x, 3) for x in self.stable_buckets],
                **self.extra,
            }
        counts = (self.canary_events, self.canary_trials, self.stable_events, self.stable_trials)
        names = ("canary_events", "canary_trials", "stable_events", "stable_trials")
        return {**{k: round(v, 3) for k, v in zip(names, counts)}, **self.extra}


def increments(looks: Sequence[Look]) -> list[Increment]:
    """The error counts between consecutive looks; a count that went down (a counter reset, another lookback)
    starts the increments over from that look."""
    out: list[Increment] = []
    before = Look()
    for look in looks:
        delta = Increment(
            look.canary_events - before.canary_events,
            look.stable_events - before.stable_events,
            look.canary_trials - before.canary_trials,
            look.stable_trials - before.stable_trials,
        )
        if min(delta.canary_events, delta.stable_events, delta.canary_trials, delta.stable_trials) < 0:
            out = [Increment(look.canary_events, look.stable_events, look.canary_trials, look.stable_trials)]
        else:
            out.append(delta)
        before = look
    return out


def bucket_increments(looks: Sequence[Look]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bucket (not cumulative) counts of each track between consecutive looks, one row per increment; a
    look whose buckets differ from the one before, or whose counts went down, starts over."""
    rows_c: list[np.ndarray] = []
    rows_s: list[np.ndarray] = []
    before: Look | None = None
    for look in looks:
        c, s = np.asarray(look.canary_buckets, dtype=float), np.asarray(look.stable_buckets, dtype=float)
        if before is not None and before.le == look.le:
            dc = c - np.asarray(before.canary_buckets, dtype=float)
            ds = s - np.asarray(before.stable_buckets, dtype=float)
        else:
            dc, ds, rows_c, rows_s = c, s, [], []
        if min(dc.min(initial=0.0), ds.min(initial=0.0)) < -0.5:
            dc, ds, rows_c, rows_s = c, s, [], []
        rows_c.append(np.clip(np.diff(dc, prepend=0.0), 0, None))
        rows_s.append(np.clip(np.diff(ds, prepend=0.0), 0, None))
        before = look
    return np.array(rows_c), np.array(rows_s)


def look_of(obs: Observation) -> Look | None:
    """This look's cumulative counts, None when the histograms cannot be compared."""
    canary, stable = obs.canary_sample, obs.stable_sample
    if isinstance(canary, Counts) and isinstance(stable, Counts):
        return Look(canary.events, canary.trials, stable.events, stable.trials)
    if isinstance(canary, Histogram) and isinstance(stable, Histogram) and canary.bounds == stable.bounds:
        return Look(
            canary_trials=canary.total,
            stable_trials=stable.total,
            le=canary.bounds,
            canary_buckets=canary.cumulative,
            stable_buckets=stable.cumulative,
        )
    return None
