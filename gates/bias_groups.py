"""Groups of the bias gate: every row's intersection of the sensitive features, and the coarser groupings.

fairlearn's MetricFrame order (sorted levels, every combination a group, empty ones listed): a row carries one
code, its intersection of all features; a grouping by fewer features maps each intersection onto its group,
so per-group sums for any grouping come from the same cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gates.engine.groups import Coded


@dataclass
class Grouping:
    """One way of splitting rows: by these features, every combination of their values a group."""

    features: tuple[str, ...]
    labels: list[str]  # "female" or "female × over_50"
    sizes: np.ndarray  # rows per group (0: an empty intersection)
    of_full: np.ndarray  # for each intersection of all features, the index of its group here

    @property
    def key(self) -> str:
        return " × ".join(self.features)


@dataclass
class Groups:
    features: tuple[str, ...]
    levels: dict[str, list[str]]
    full_code: np.ndarray | None  # per row: index of its intersection of all features
    full_sizes: np.ndarray | None = None  # rows per intersection, when there are no rows (streamed cells)
    groupings: dict[tuple[str, ...], Grouping] = field(default_factory=dict)

    def grouping(self, features: tuple[str, ...]) -> Grouping:
        if features not in self.groupings:
            self.groupings[features] = _grouping(self, features)
        return self.groupings[features]


def _codes_and_names(values: Any) -> tuple[np.ndarray, list[str]]:
    """Per-row codes into distinct names, from a Coded column or from raw values (factorised here)."""
    if isinstance(values, Coded):
        codes, names = values.codes, [str(n) for n in values.names]
    else:
        import pandas as pd

        codes, uniq = pd.factorize(np.asarray(values, dtype=object))  # hashing: fast on a million strings
        names = [str(u) for u in uniq]
    distinct = sorted(set(names))
    if len(distinct) != len(names):  # two raw values with one text (1 and "1"): one group
        position = {name: i for i, name in enumerate(distinct)}
        codes = np.array([position[n] for n in names], dtype=np.int64)[codes]
        names = distinct
    return np.asarray(codes, dtype=np.int64), names


def make_groups(columns: Mapping[str, Any]) -> Groups:
    """Codes of every row's intersection of all sensitive features (fairlearn order: sorted levels)."""
    features = tuple(columns)
    levels: dict[str, list[str]] = {}
    codes = []
    for name, values in columns.items():
        code, names = _codes_and_names(values)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        levels[name] = [names[i] for i in order]
        codes.append(rank[code])
    shape = tuple(len(levels[f]) for f in features)
    full = np.ravel_multi_index(codes, shape) if codes else np.zeros(0, dtype=np.int64)
    return Groups(features=features, levels=levels, full_code=np.asarray(full, dtype=np.int64))


def _grouping(groups: Groups, features: tuple[str, ...]) -> Grouping:
    full_shape = tuple(len(groups.levels[f]) for f in groups.features)
    sub_shape = tuple(len(groups.levels[f]) for f in features)
    full_index = np.array(list(itertools.product(*[range(s) for s in full_shape])), dtype=np.int64)
    positions = [groups.features.index(f) for f in features]
    of_full = np.ravel_multi_index(tuple(full_index[:, p] for p in positions), sub_shape)
    labels = [" × ".join(combo) for combo in itertools.product(*[groups.levels[f] for f in features])]
    if groups.full_sizes is not None:
        full_sizes = groups.full_sizes
    elif groups.full_code is not None:
        full_sizes = np.bincount(groups.full_code, minlength=int(np.prod(full_shape)))
    else:
        raise ValueError("groups need per-row codes or per-intersection sizes")
    sizes = np.bincount(of_full, weights=full_sizes, minlength=len(labels)).astype(np.int64)
    return Grouping(
        features=features, labels=labels, sizes=sizes, of_full=np.asarray(of_full, dtype=np.int64)
    )
