"""The monitor's memory between scheduled runs: a JSON file (kept by the starter workflow in the Actions cache).

Why a file and not a recount: CUSUM and Page-Hinkley accumulate evidence over blocks; if a restart reset them a
slow drift would never alarm. The file holds the detectors' few floats, the partial block of each column, the log
files already consumed (name, rows consumed and modification time, so a re-run never counts a row twice), the
calibrated thresholds, the alarms and the actions taken for each (an alarm opens one issue, not one per run).

Why the list of consumed files stays small: an entry is kept while its file is present (its row count is what
tells an appended file's new rows) and for `forget_after_days` after it disappeared (log retention, a moved
folder that comes back); then it is folded into one high-water mark, the largest (modification time, name) of
the files forgotten. A file with no entry at or below the mark is one that was forgotten, come back (a restore
keeps the modification time): it is never read again, and a run that meets one says so in a warning, so a
genuinely new file that arrives with an old modification time is named, never silently dropped. New files
written after the forgotten ones were last changed are above the mark and read as usual.

A state file that exists but cannot be read as one is bad input (exit 2, one line): silently starting over would
hide an alarm in progress. A missing file is the first run.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gates.core.errors import InputError

FORMAT = "mlgate-monitor-state"
VERSION = 1
KEPT_ALARMS = 50
NS = 1_000_000_000

_SHAPE: dict[str, type] = {
    "runs": int,
    "processed": dict,
    "pending": dict,
    "detectors": dict,
    "calibration": dict,
    "alarms": list,
    "actions": dict,
    "config": str,
    "prometheus": dict,
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fresh() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": now_iso(),
        "updated": None,
        "runs": 0,
        "processed": {},
        "pending": {},
        "detectors": {},
        "calibration": {},
        "alarms": [],
        "actions": {},
        "config": "",
        "prometheus": {},
        "forgotten": None,
    }


def load(path: Path) -> dict[str, Any]:
    """The state in `path`, or a fresh one when the file does not exist; InputError when it is damaged."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return fresh()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the monitor state ({exc.strerror})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{path}: the monitor state is not valid JSON ({type(exc).__name__}); restore it from the last "
            "run's artifact or delete it to start over"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not an mlgate monitor state (expected 'format': {FORMAT!r})")
    if data.get("version") != VERSION:
        raise InputError(
            f"{path}: monitor state version {data.get('version')!r}; this mlgate reads {VERSION}"
        )
    for key, kind in _SHAPE.items():
        if not isinstance(data.get(key), kind) or (kind is int and isinstance(data.get(key), bool)):
            raise InputError(f"{path}: monitor state key {key!r}: expected {kind.__name__}")
    mark = data.setdefault("forgotten", None)  # absent in states written before the mark existed
    if mark is not None and not (
        isinstance(mark, dict)
        and isinstance(mark.get("name"), str)
        and type(mark.get("mtime_ns")) is int
        and type(mark.get("files")) is int
    ):
        raise InputError(f"{path}: monitor state key 'forgotten': expected null or {{mtime_ns, name, files}}")
    return data


def was_forgotten(state: dict[str, Any], name: str, mtime_ns: int) -> bool:
    """True for a file with no entry at or below the high-water mark of forgotten files: read before, then
    forgotten (see the module docstring), so its rows were counted already."""
    mark = state.get("forgotten")
    if name in state["processed"] or mark is None:
        return False
    return (mtime_ns, name) <= (mark["mtime_ns"], mark["name"])


def remember_files(
    state: dict[str, Any], present: dict[str, dict[str, int]], now: float, forget_after_seconds: float
) -> list[str]:
    """Record this run's files (rows consumed, modification time, seen now) and forget the entries of files
    absent for `forget_after_seconds`, folding them into the high-water mark; returns the names forgotten."""
    processed = state["processed"]
    for name, info in present.items():
        processed[name] = {**info, "seen": now}
    forgotten = []
    for name, entry in list(processed.items()):
        if name in present:
            continue
        seen = entry.get("seen")
        if not isinstance(seen, (int, float)) or isinstance(seen, bool):
            entry["seen"] = now  # an entry from before the mark existed: its absence is counted from now
            continue
        if now - seen < forget_after_seconds:
            continue
        # an entry without a modification time (older states) is marked by when it was last seen, which is
        # never earlier than its last change
        mtime = entry.get("mtime_ns")
        key = (mtime if type(mtime) is int else int(seen * NS), name)
        mark = state.get("forgotten")
        files = (mark["files"] if mark else 0) + 1
        if mark is None or key > (mark["mtime_ns"], mark["name"]):
            state["forgotten"] = {"mtime_ns": key[0], "name": name, "files": files}
        else:
            mark["files"] = files
        del processed[name]
        forgotten.append(name)
    return forgotten


def save(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename): an interrupted run leaves the old state, never half."""
    state["updated"] = now_iso()
    state["alarms"] = state["alarms"][-KEPT_ALARMS:]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".monitor-state-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=1, sort_keys=True, allow_nan=False)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
