"""The training profile the service compares live inputs with, and the drift score it exports.

The profile holds, per model input, the reference distribution over fixed bins: decile edges for numeric
features (from the training set), the declared levels for categorical ones. The live score is the
population stability index (PSI) of a rolling window of requests against those bins::

    PSI = sum_i (p_live_i - p_ref_i) * ln(p_live_i / p_ref_i)

with empty bins floored at ``EPSILON`` so the logarithm stays finite (the usual reading: < 0.1 stable,
0.1 to 0.25 moderate, > 0.25 a large shift). Regenerate the file with::

    python -m examples.service.profile --reference examples/data/reference.parquet --out examples/service/profile.json
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from examples.credit import features

EPSILON = 1e-4
PROFILE_PATH = Path(__file__).with_name("profile.json")


def build_profile(frame: Any, source: str = "") -> dict[str, Any]:
    """Bins and reference proportions of every model input of a training frame (pandas)."""
    import numpy as np

    out: dict[str, Any] = {"version": 1, "source": source, "rows": int(len(frame)), "method": "psi",
                           "numeric": {}, "categorical": {}}
    for column in features.NUMERIC_FEATURES:
        values = frame[column].to_numpy(dtype=float)
        inner = sorted(set(float(x) for x in np.quantile(values, np.linspace(0.1, 0.9, 9))))
        counts = _bin_counts(values.tolist(), inner)
        out["numeric"][column] = {
            "mean": float(values.mean()), "std": float(values.std(ddof=1)),
            "edges": inner, "proportions": [c / len(values) for c in counts],
        }
    for column, levels in features.CATEGORICAL_FEATURES.items():
        values = frame[column].astype(str).tolist()
        out["categorical"][column] = {
            "levels": list(levels),
            "proportions": [sum(v == level for v in values) / len(values) for level in levels],
        }
    return out


def load_profile(path: Path | None = None) -> dict[str, Any]:
    data = json.loads(Path(path or PROFILE_PATH).read_text(encoding="utf-8"))
    if data.get("version") != 1 or "numeric" not in data or "categorical" not in data:
        raise ValueError(f"{path or PROFILE_PATH}: not a version 1 drift profile")
    return data


def _bin_counts(values: Sequence[float], inner_edges: Sequence[float]) -> list[int]:
    """Counts over bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    import bisect

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
        counts = _bin_counts([float(r[column]) for r in rows], spec["edges"])
        scores[column] = psi(counts, spec["proportions"])
    for column, spec in profile["categorical"].items():
        index = {level: i for i, level in enumerate(spec["levels"])}
        counts = [0] * len(index)
        for r in rows:
            position = index.get(str(r[column]))
            if position is not None:
                counts[position] += 1
        scores[column] = psi(counts, spec["proportions"])
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default="examples/data/reference.parquet")
    parser.add_argument("--out", default=str(PROFILE_PATH))
    args = parser.parse_args(argv)
    import pandas as pd

    profile = build_profile(pd.read_parquet(args.reference), source=Path(args.reference).name)
    Path(args.out).write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
