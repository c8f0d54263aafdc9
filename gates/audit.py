"""The audit trail: append-only JSON Lines where each record carries the hash of the one before.

Editing a record breaks its own hash; deleting or reordering records breaks the chain (`prev` and `seq`).
Cutting records off the end cannot be seen from the file alone, so every append returns the new head hash
(a step output) and `verify --expect-head` checks against a head kept elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.errors import InputError

if TYPE_CHECKING:
    from gates.policy import Policy
    from gates.result import GateResult

GENESIS = "0" * 64
GITHUB_FIELDS = ("GITHUB_SHA", "GITHUB_REF", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT",
                 "GITHUB_WORKFLOW", "GITHUB_JOB", "GITHUB_ACTOR", "GITHUB_EVENT_NAME")


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
                raise InputError(f"{path}: the last record is damaged, so nothing can be chained to it "
                                 f"(run `mlgate audit verify {path}`)") from None
            record = {"seq": count, "prev": prev, "time": datetime.now(timezone.utc).isoformat(), **entry}
            record["hash"] = record_hash(record)
            handle.seek(0, os.SEEK_END)
            handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return record["hash"]


def environment() -> dict[str, str]:
    return {k.lower().removeprefix("github_"): os.environ[k] for k in GITHUB_FIELDS if os.environ.get(k)}


def append_results(path: Path, results: list[GateResult], policy: Policy) -> str:
    """One record per gate: verdict, every input's sha256, the policy's hash, and the git context."""
    policy_hash = hashlib.sha256(canonical(policy.data)).hexdigest()
    head = ""
    for result in results:
        head = append(path, {
            "kind": "gate",
            "gate": result.gate,
            "status": result.status.value,
            "counts": result.counts(),
            "inputs": result.evidence.get("inputs", {}),
            "policy": {"source": policy.source, "sha256": policy_hash},
            "github": environment(),
        })
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
                problems.append(f"line {number} (seq {record.get('seq')}): record was edited (its hash does not match)")
            if record.get("seq") != count:
                problems.append(f"line {number}: expected record seq {count}, found {record.get('seq')} "
                                f"(records were deleted, inserted or reordered)")
            elif record.get("prev") != prev:
                problems.append(f"line {number} (seq {count}): does not follow the record before it "
                                f"(the chain is broken)")
            seq = record.get("seq")
            prev, head, records = record["hash"], record["hash"], records + 1
            count = (seq if isinstance(seq, int) else count) + 1  # re-synchronise so one gap is one problem
    if expect_head and head != expect_head:
        problems.append(f"the last record's hash is {head[:16]}…, expected {expect_head[:16]}… "
                        f"(records were cut off the end or the file was replaced)")
    return Verification(records=records, head=head, problems=problems)
