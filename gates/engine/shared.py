"""One table of cells for the metrics and the bias gate when one `mlgate run` runs both on the same predictions.

Why: both gates decide on cells of the same rows (label x decision x score, and per group for bias), so
computing them twice scans the table twice. Within `mlgate run` (gates.commands.run opens a scope()), when the
two sections read the same predictions the same way (the READER_KEYS below are equal, the metrics task is
binary, no baseline), the first gate to ask computes both gates' statistics at once and the second takes
its share:

- DuckDB and Spark: one GROUPING SETS statement over the table gives the metrics gate's cells (scores on
  its own grid) and the bias gate's (per group, on the grid the groups allow; without scores when no bias
  metric reads them, as the gate would drop them anyway): gates.engine.cells.compute_joint;
- the local engine in memory: the metrics gate reads the sensitive columns with its own (one read); the bias
  gate takes the same validated arrays.

Each gate gets exactly the cells it would have computed alone (the bias gate without scores it would not
read; the metrics gate's cells still check every score), so every number is the same as in separate
invocations (tests/engine/test_shared.py). Anything unusual (a bad value, a missing column) falls back to
each gate computing its own, so the errors are word for word those of separate runs. Outside a scope (the
per-gate commands, the Python API) nothing is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from gates.core.errors import InputError, MlgateError

# the keys that decide which rows and values the cells hold: equal in both sections, or nothing is shared
READER_KEYS = (
    "predictions",
    "columns",
    "positive_label",
    "decision_threshold",
    "classes",
    "streaming",
    "engine",
)


@dataclass
class Pair:
    """The metrics and bias sections of one run that read the same predictions, and what one computed for
    the other (taken, so freed, by the gate it is for)."""

    bias_section: dict[str, Any]  # the bias gate's reader spec (missing_group, how groups are coded)
    features: list[str]
    reader: dict[str, Any]  # the READER_KEYS both sections share
    bias_scores: bool = True  # False: the bias gate reads no scores, so its cells have none
    kept: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    failed: set[tuple] = field(default_factory=set)

    def role(self, section: dict[str, Any], sensitive: list[str] | None) -> str | None:
        """'metrics' or 'bias' when this request is one of the pair's, else None."""
        if _reader(section) != self.reader:
            return None
        if not sensitive:
            return "metrics"
        return "bias" if list(sensitive) == self.features else None

    def take(self, key: tuple, role: str) -> Any | None:
        return self.kept.get(key, {}).pop(role, None)

    def cells(
        self,
        key: tuple,
        role: str,
        joint: Callable[[], dict[str, Any]],
    ) -> Any | None:
        """The role's share of what `joint` computes for both (once per key), or None: compute alone."""
        found = self.take(key, role)
        if found is not None or key in self.failed:
            return found
        try:
            both = joint()
        except InputError:  # the gates compute their own, and say what is wrong in their own words
            self.failed.add(key)
            return None
        self.kept[key] = {k: v for k, v in both.items() if k != role}
        return both[role]

    def local_extra(self, section: dict[str, Any], path: Any) -> list[str]:
        """The sensitive columns the metrics gate should read with its predictions (in memory, local engine)
        so that the bias gate need not read the file again; [] when not part of the pair or a column is
        missing (the bias gate then reads, and reports, on its own)."""
        if self.role(section, []) != "metrics":
            return []
        from gates.readers.arrow import column_names

        try:
            present = set(column_names(path))
        except Exception:  # noqa: BLE001 - a bad file: the metrics gate's reader reports it in its words
            return []
        return self.features if set(self.features) <= present else []

    def keep_local(self, path: Any, predictions: Any) -> None:
        self.kept[("local", str(path))] = {"bias": predictions}


_ACTIVE: ContextVar[Pair | None] = ContextVar("mlgate_shared_cells", default=None)


def current() -> Pair | None:
    return _ACTIVE.get()


@contextmanager
def scope(pair: Pair | None) -> Iterator[None]:
    """Share cells between the gates run inside (nothing when `pair` is None)."""
    token = _ACTIVE.set(pair)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def plan(
    settings_of: Callable[[str], Any], names: list[str], needs_scores: Callable[[Any], bool]
) -> Pair | None:
    """The pair to share, from the run's gate names and a function giving a gate's typed settings; None when
    the run does not hold both gates, a section is invalid (the gate itself reports it), or they read
    different predictions or read them differently. `needs_scores(bias settings)`: whether the bias gate
    reads scores (gates.bias.needs_scores; an engine does not import a gate)."""
    if "metrics" not in names or "bias" not in names:
        return None
    try:
        metrics, bias = settings_of("metrics"), settings_of("bias")
    except (MlgateError, ValueError):  # pydantic's ValidationError is a ValueError: the gate reports it
        return None
    from gates.readers.predictions import infer_task

    given = metrics.reader_spec()
    if infer_task(given) != "binary" or given.get("baseline"):
        return None
    spec = bias.reader_spec(task="binary")
    if _reader(given) != _reader(spec):
        return None
    return Pair(
        bias_section={**spec, "task": "binary"},
        features=list(bias.features()),
        reader=_reader(spec),
        bias_scores=needs_scores(bias),
    )


def _reader(section: dict[str, Any]) -> dict[str, Any]:
    return {k: section.get(k) for k in READER_KEYS}
