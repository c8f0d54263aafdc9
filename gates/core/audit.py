"""The audit trail: append-only JSON Lines where each record carries the hash of the one before.

Editing a record breaks its own hash; deleting or reordering records breaks the chain (`prev` and `seq`).
Cutting records off the end cannot be seen from the file alone, so every append returns the new head hash
(a step output) and `verify --expect-head` checks against a head kept elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.core.context import sha256_file
from gates.core.errors import InputError

if TYPE_CHECKING:
    from gates.core.policy import Policy
    from gates.core.result import GateResult

GENESIS = "0" * 64
GITHUB_FIELDS = (
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_WORKFLOW",
    "GITHUB_JOB",
    "GITHUB_ACTOR",
    "GITHUB_EVENT_NAME",
)


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def append(path: Path, entry: dict[str, Any]) -> str:
    """Append one record under an exclusive lock (parallel steps share the file); return its hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            last_line = ""
            count = 0
            for line in handle:
                if line.strip():
                    last_line, count = line, count + 1
            try:
                prev = json.loads(last_line)["hash"] if last_line else GENESIS
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(
                    f"{path}: the last record is damaged, so nothing can be chained to it "
                    f"(run `mlgate audit verify {path}`)"
                ) from None
            record = {"seq": count, "prev": prev, "time": datetime.now(timezone.utc).isoformat(), **entry}
            record["hash"] = record_hash(record)
            handle.seek(0, os.SEEK_END)
            handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    head: str = record["hash"]
    return head


def environment() -> dict[str, str]:
    return {k.lower().removeprefix("github_"): os.environ[k] for k in GITHUB_FIELDS if os.environ.get(k)}


SUMMARY_KEYS = 24  # per gate, in the gate's own order
SUMMARY_TEXT = 200  # characters kept of a string value


_SKIP = object()  # a value too big for a record


def _scalar(value: Any) -> Any:
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy scalar
    return value if value is None or isinstance(value, (str, int, float, bool)) else _SKIP


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_TEXT else text[: SUMMARY_TEXT - 1] + "…"


def compact_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A gate's summary, small enough for every record: scalar values (a list of scalars, such as a deploy's
    images, joined with ", "; mappings and other lists are left to the report, bound by its hash), strings cut
    at SUMMARY_TEXT characters, non-finite numbers as text."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if len(out) >= SUMMARY_KEYS:
            break
        if isinstance(value, (list, tuple)):
            items = [_scalar(v) for v in value]
            if any(v is _SKIP or v is None for v in items):
                continue
            value = ", ".join(map(str, items))
        value = _scalar(value)
        if value is _SKIP:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        elif isinstance(value, str):
            value = _cut(value)
        out[str(key)] = value
    return out


def deciding_why(result: GateResult) -> str:
    """The reason of the check that decided the verdict (the last one of the worst status), cut short."""
    deciding = [c for c in result.checks if c.status is result.status]
    return _cut(deciding[-1].why) if deciding else ""


def _report_entry(path: Path | None) -> dict[str, str] | None:
    if path is None or not path.is_file():
        return None
    return {"path": str(path), "sha256": sha256_file(path)}


def append_results(path: Path, results: list[GateResult], policy: Policy, report: Path | None = None) -> str:
    """One record per gate: verdict, the deciding check's reason and the gate's summary, every input's sha256, the policy's hash, the git
    context, and the sha256 of the JSON report the run wrote (``report``, e.g. REPORT_DIR/mlgate.json, and
    the gate's own ``<gate>.json`` beside it), which holds all the evidence. Returns the new head hash."""
    policy_hash = hashlib.sha256(canonical(policy.data)).hexdigest()
    run_report = _report_entry(report)
    head = ""
    for result in results:
        entry: dict[str, Any] = {
            "kind": "gate",
            "gate": result.gate,
            "status": result.status.value,
            "counts": result.counts(),
            "why": deciding_why(result),
            "summary": compact_summary(result.summary),
            "inputs": result.evidence.get("inputs", {}),
            "policy": {"source": policy.source, "sha256": policy_hash},
            "github": environment(),
        }
        if run_report and report is not None:  # run_report is set only for a report
            entry["report"] = run_report
            gate_report = _report_entry(report.parent / f"{result.gate}.json")
            if gate_report and gate_report["path"] != run_report["path"]:
                entry["gate_report"] = gate_report
        head = append(path, entry)
    return head


@dataclass
class Verification:
    records: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path, expect_head: str | None = None) -> Verification:
    """Walk the chain and name every record that was edited, removed or moved."""
    if not path.exists():
        raise InputError(f"{path}: audit trail not found")
    problems: list[str] = []
    prev, head, count, records = GENESIS, GENESIS, 0, 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"line {number}: not valid JSON (the record was damaged)")
                continue
            if not isinstance(record, dict) or "hash" not in record:
                problems.append(f"line {number}: not an audit record")
                continue
            if record_hash(record) != record["hash"]:
                problems.append(
                    f"line {number} (seq {record.get('seq')}): record was edited (its hash does not match)"
                )
            if record.get("seq") != count:
                problems.append(
                    f"line {number}: expected record seq {count}, found {record.get('seq')} "
                    f"(records were deleted, inserted or reordered)"
                )
            elif record.get("prev") != prev:
                problems.append(
                    f"line {number} (seq {count}): does not follow the record before it (the chain is broken)"
                )
            seq = record.get("seq")
            prev, head, records = record["hash"], record["hash"], records + 1
            count = (seq if isinstance(seq, int) else count) + 1  # re-synchronise so one gap is one problem
    if expect_head and head != expect_head:
        problems.append(
            f"the last record's hash is {head[:16]}…, expected {expect_head[:16]}… "
            f"(records were cut off the end or the file was replaced)"
        )
    return Verification(records=records, head=head, problems=problems)
