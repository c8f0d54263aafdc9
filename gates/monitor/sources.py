"""Where the monitor's evidence comes from: prediction logs (Parquet / JSON Lines / CSV files) or Prometheus.

Logs: every file matching the policy's glob is read through the one table reader (gates.readers.table). Rows not
seen before (the state remembers how many rows of each file it consumed, so an appended JSON Lines file gives
only its new rows and a re-run consumes nothing twice; a file the state has forgotten that comes back is not
read again, gates.monitor.state) feed the change detectors and the window drift test; the
labelled rows of every file present (labels arrive late: a label column filled in later, or label files joined
by id) feed accuracy and calibration.

Prometheus: the score histogram's _sum and _count, against their values at the previous run (kept in the state),
give one block mean per run;
the service's drift gauges and rolling accuracy give the window drift and the labelled accuracy.
"""

from __future__ import annotations

import glob
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gates.core.errors import InputError
from gates.monitor.state import was_forgotten

if TYPE_CHECKING:
    from gates.core.settings.monitor import Source

PROMETHEUS_MAX_WINDOW_SECONDS = 7 * 86400.0


@dataclass
class Evidence:
    """What one run saw: new rows per watched column (or block summaries), the labelled subset, and the
    windows' own drift evidence."""

    new_rows: int = 0
    values: dict[str, np.ndarray] = field(default_factory=dict)  # logs: new values per watched column
    blocks: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # prometheus: (mean, count)
    labels: np.ndarray | None = None  # 0/1 outcomes of the labelled subset
    scores: np.ndarray | None = None  # their scores
    labelled_counts: tuple[float, float] | None = None  # prometheus: (correct, labelled)
    psi: dict[str, float] = field(default_factory=dict)  # prometheus: drift gauge per feature
    window_file: Path | None = None  # logs: the new rows as a Parquet file for the drift gate
    files: dict[str, dict[str, int]] = field(default_factory=dict)  # consumed rows, mtime per file, to record
    forgotten_back: list[str] = field(default_factory=list)  # logs: files below the forgotten mark, not read
    queries: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, float] = field(
        default_factory=dict
    )  # prometheus: the score counters now, for next time


_TEXT_OUTCOMES = {"1": 1.0, "0": 0.0, "true": 1.0, "false": 0.0}


def _outcome(value: Any) -> float:
    """1.0 / 0.0 for a label, NaN for 'not labelled yet', -1.0 for anything that is not a binary label."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, str):
        return _TEXT_OUTCOMES.get(value.strip().lower(), -1.0)
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)) and value in (0, 1):
        return float(value)
    return -1.0


def _binary(values: Any, path: Path, column: str) -> np.ndarray:
    """Outcomes as 0/1 floats with NaN for 'not labelled yet'; anything else is an InputError."""
    listed = list(values)
    mapped = np.array([_outcome(v) for v in listed], dtype=float)
    bad = mapped < 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: column '{column}' row {row + 1}: expected a 0/1 label, got {listed[row]!r}"
        )
    return mapped


def read_logs(
    source: Source, base_dir: Path, watched: list[str], state: dict[str, Any], work: Path
) -> Evidence:
    """New rows of the watched columns since the last run, and the labelled subset of every file present."""
    import pandas as pd

    from gates.readers.table import numeric_column, read_table

    pattern = source.predictions
    if pattern is None:
        raise InputError("monitor.source.predictions: the logs source needs the glob of its prediction logs")
    full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
    files = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
    evidence = Evidence()
    if not files:
        return evidence
    score_col, label_col, id_col = source.score, source.label, source.id
    new_parts: list[pd.DataFrame] = []
    labelled: list[pd.DataFrame] = []
    processed = state["processed"]
    for path in files:
        name = str(path.relative_to(base_dir)) if path.is_relative_to(base_dir) else str(path)
        wanted = list(
            dict.fromkeys(
                [*watched, score_col, *([label_col] if label_col else []), *([id_col] if id_col else [])]
            )
        )
        mtime_ns = path.stat().st_mtime_ns
        frame = read_table(path, wanted)
        for column in watched:
            numeric_column(frame, column, path, probability=column == score_col, row_offset=0)
        if was_forgotten(state, name, mtime_ns):
            # counted before the state forgot it: none of its rows is new (its labels still count)
            evidence.forgotten_back.append(name)
            seen = len(frame)
        else:
            seen = int((processed.get(name) or {}).get("rows", 0))
        if len(frame) < seen:
            raise InputError(
                f"{path}: has {len(frame)} rows but {seen} were consumed by an earlier run: prediction logs "
                "must only grow (write a new file per period)"
            )
        if len(frame) > seen:
            new_parts.append(frame.iloc[seen:][watched])
        evidence.files[name] = {"rows": len(frame), "mtime_ns": mtime_ns}
        if label_col or id_col:
            labelled.append(frame)
    if new_parts:
        new = pd.concat(new_parts, ignore_index=True)
        evidence.new_rows = len(new)
        evidence.values = {c: new[c].to_numpy(dtype=float) for c in watched}
        evidence.window_file = work / "window.parquet"
        new.to_parquet(evidence.window_file, index=False)
    if labelled:
        _labelled(evidence, pd.concat(labelled, ignore_index=True), source, base_dir, score_col)
    return evidence


def _labelled(evidence: Evidence, frame: Any, source: Source, base_dir: Path, score_col: str) -> None:
    """Join late labels (label files by id) onto the logged predictions and keep the labelled rows."""
    import pandas as pd

    from gates.readers.table import read_table

    label_col, id_col = source.label, source.id
    outcome = (
        _binary(frame[label_col], Path(str(source.predictions)), label_col)
        if label_col
        else np.full(len(frame), np.nan)
    )
    if source.labels:
        if not id_col:
            raise InputError(
                "monitor.source.labels needs monitor.source.id (the column that joins labels to predictions)"
            )
        pattern = source.labels
        full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
        parts = [read_table(Path(p), [id_col, source.labels_column]) for p in sorted(glob.glob(full))]
        if parts:
            late = pd.concat(parts, ignore_index=True).drop_duplicates(subset=[id_col], keep="last")
            joined = frame[[id_col]].merge(late, on=id_col, how="left")
            late_outcome = _binary(joined[source.labels_column], Path(pattern), "label")
            outcome = np.where(np.isnan(outcome), late_outcome, outcome)
    known = ~np.isnan(outcome)
    evidence.labels = outcome[known]
    evidence.scores = frame[score_col].to_numpy(dtype=float)[known]


def read_prometheus(source: Source, state: dict[str, Any], client: Any, now: float | None = None) -> Evidence:
    """One block per run from the score histogram's _sum and _count increase since the previous run, the drift
    gauges and the rolling accuracy. Prometheus unreachable raises InfraError (exit 3) from the client."""
    from gates.deploy.prometheus import NoData

    now = time.time() if now is None else now
    last = float(state["prometheus"].get("last_time") or now - source.lookback_seconds)
    window = int(min(max(now - last, 1.0), PROMETHEUS_MAX_WINDOW_SECONDS))
    selector = source.selector
    names = source.metrics
    score = names.score
    evidence = Evidence()

    def value(query: str) -> float | None:
        try:
            result = client.value(query, at=now)
        except NoData:
            result = None
        evidence.queries.append({"query": query, "value": result})
        return result

    # Exact counts since the last run from the counters themselves; increase() over the window only on the first
    # run or after a counter reset (a restarted pod), where the difference would be wrong.
    count_now = value(f"sum({score}_count{selector})")
    sum_now = value(f"sum({score}_sum{selector})")
    previous = state["prometheus"].get("counters") or {}
    if count_now is not None and sum_now is not None:
        evidence.counters = {"count": count_now, "sum": sum_now}
    if evidence.counters and previous and count_now >= previous["count"] and sum_now >= previous["sum"]:
        count, total = count_now - previous["count"], sum_now - previous["sum"]
    else:
        count = value(f"sum(increase({score}_count{selector}[{window}s]))")
        total = value(f"sum(increase({score}_sum{selector}[{window}s]))")
    if count is not None and total is not None and count >= 1:
        evidence.new_rows = round(count)
        evidence.blocks["score"] = [(total / count, round(count))]
    psi_name = names.psi
    for series in client.query(f"max by (feature) ({psi_name}{selector})", at=now):
        if math.isfinite(series.value):
            evidence.psi[series.labels.get("feature", "?")] = series.value
    evidence.queries.append(
        {"query": f"max by (feature) ({psi_name}{selector})", "value": dict(evidence.psi)}
    )
    accuracy = names.accuracy
    labels = names.labels
    correct = value(f"sum({accuracy}{selector} * {labels}{selector})")
    trials = value(f"sum({labels}{selector})")
    if correct is not None and trials:
        evidence.labelled_counts = (correct, trials)
    return evidence
