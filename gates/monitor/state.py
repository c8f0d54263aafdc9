"""The monitor's memory between scheduled runs: a JSON file (kept by the starter workflow in the Actions cache).

Why a file and not a recount: CUSUM and Page-Hinkley accumulate evidence over blocks; if a restart reset them a
slow drift would never alarm. The file holds the detectors' few floats, the partial block of each column, the log
files already consumed (name and SHA-256, so a re-run never counts a file twice), the calibrated thresholds, the
alarms and the actions taken for each (an alarm opens one issue, not one per run).

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
    return data


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
