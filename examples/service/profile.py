"""The training profile the service compares live inputs with, and the drift score it exports.

``profile.json`` is a profile written by the drift gate (``mlgate drift profile``), so the service and the drift
gate share one description of the training data: for each numeric input the decile bin edges of the training set
and the counts in those bins, for each categorical input the counts per level. Regenerate it with::

    mlgate drift profile --reference examples/data/reference.parquet --out examples/service/profile.json \\
      --quantiles 100 --column age --column income --column debt_ratio --column credit_history_years \\
      --column num_open_accounts --column employment --column region

The service reads the JSON itself (the image does not need mlgate). The live score is the population stability
index (PSI) of a rolling window of requests over the same bins::

    PSI = sum_i (p_live_i - p_ref_i) * ln(p_live_i / p_ref_i)

with empty bins floored at ``EPSILON`` so the logarithm stays finite (the usual reading: < 0.1 stable, 0.1 to
0.25 moderate, > 0.25 a large shift). Bins are (-inf, e1], (e1, e2], ..., (ek, inf), as in the drift gate.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from examples.credit import features

EPSILON = 1e-4
PROFILE_PATH = Path(__file__).with_name("profile.json")
PROFILE_FORMAT = 1  # the drift gate's `mlgate_drift_profile` version


def load_profile(path: Path | None = None) -> dict[str, Any]:
    """Bins and reference proportions of every model input, from a drift-gate profile file."""
    path = Path(path or PROFILE_PATH)
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("mlgate_drift_profile") != PROFILE_FORMAT:
        raise ValueError(f"{path}: not an mlgate drift profile (version {PROFILE_FORMAT})")
    columns = document.get("columns") or {}
    out: dict[str, Any] = {
        "source": document.get("source"),
        "rows": document.get("rows"),
        "numeric": {},
        "categorical": {},
    }
    for column in features.NUMERIC_FEATURES:
        spec = columns.get(column) or {}
        bins = spec.get("bins") or {}
        counts = [float(c) for c in bins.get("counts") or []]
        if spec.get("kind") != "numeric" or not counts or len(counts) != len(bins.get("edges") or []) + 1:
            raise ValueError(f"{path}: column {column!r} has no numeric bins")
        out["numeric"][column] = {
            "edges": [float(e) for e in bins["edges"]],
            "proportions": [c / sum(counts) for c in counts],
            "mean": spec.get("mean"),
            "std": spec.get("std"),
        }
    for column, levels in features.CATEGORICAL_FEATURES.items():
        spec = columns.get(column) or {}
        categories = spec.get("categories") or {}
        if spec.get("kind") != "categorical" or not categories:
            raise ValueError(f"{path}: column {column!r} has no categories")
        total = sum(categories.values())
        out["categorical"][column] = {
            "levels": list(levels),
            "proportions": [categories.get(level, 0) / total for level in levels],
        }
    return out


def _bin_counts(values: Sequence[float], inner_edges: Sequence[float]) -> list[int]:
    counts = [0] * (len(inner_edges) + 1)
    for value in values:
        counts[bisect.bisect_left(inner_edges, value)] += 1
    return counts


def psi(live: Sequence[float], reference: Sequence[float]) -> float:
    total = sum(live)
    if total <= 0:
        return math.nan
    score = 0.0
    for count, ref in zip(live, reference):
        p = max(count / total, EPSILON)
        q = max(ref, EPSILON)
        score += (p - q) * math.log(p / q)
    return score


def drift_scores(profile: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """PSI of each model input over ``rows`` (validated records) against the profile."""
    if not rows:
        return {}
    scores: dict[str, float] = {}
    for column, spec in profile["numeric"].items():
        scores[column] = psi(
            _bin_counts([float(r[column]) for r in rows], spec["edges"]), spec["proportions"]
        )
    for column, spec in profile["categorical"].items():
        index = {level: i for i, level in enumerate(spec["levels"])}
        counts = [0] * len(index)
        for r in rows:
            position = index.get(str(r[column]))
            if position is not None:
                counts[position] += 1
        scores[column] = psi(counts, spec["proportions"])
    return scores
