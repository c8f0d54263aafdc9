"""The ignore list: accepted risks with an id, a reason and an expiry date (optionally a package and version).

An entry suppresses through its `expires` day. From the day after, it suppresses nothing and the gate says so in
a check of its own: the finding it covered counts again, so an expired entry turns a pass into a fail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gates.core.errors import InputError
from gates.readers.findings import VulnFinding


@dataclass(frozen=True)
class IgnoreEntry:
    id: str
    reason: str
    expires: dt.date
    package: str | None = None
    version: str | None = None
    index: int = 0

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def matches(self, finding: VulnFinding) -> bool:
        if self.id.upper() not in finding.ids:
            return False
        if self.package and (finding.package or "").lower() != self.package.lower():
            return False
        return not self.version or (finding.version or "") == self.version

    def describe(self) -> str:
        scope = f" in {self.package}{'@' + self.version if self.version else ''}" if self.package else ""
        return f"{self.id}{scope}"


def parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(f"{where}: expected a date YYYY-MM-DD, got {value!r}")


def parse_entries(
    raw: list[dict[str, Any]] | None, where: str = "security.vulns.ignore"
) -> list[IgnoreEntry]:
    entries = []
    for n, item in enumerate(raw or []):
        here = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise InputError(f"{here}: expected a mapping with id, reason and expires")
        for key in ("id", "reason", "expires"):
            if not item.get(key) or (isinstance(item.get(key), str) and not item[key].strip()):
                raise InputError(
                    f"{here}: missing required key '{key}' (every ignore entry needs an id, "
                    f"a reason and an expiry date)"
                )
        entries.append(
            IgnoreEntry(
                id=str(item["id"]).strip(),
                reason=str(item["reason"]).strip(),
                expires=parse_date(item["expires"], f"{here}.expires"),
                package=item.get("package"),
                version=str(item["version"]) if item.get("version") is not None else None,
                index=n,
            )
        )
    return entries


@dataclass
class Applied:
    suppressed: dict[int, IgnoreEntry]  # finding index -> the entry that suppresses it
    expired: list[tuple[IgnoreEntry, int]]  # (entry, how many findings it would have suppressed)
    unused: list[IgnoreEntry]  # active entries that matched nothing (stale: the finding is gone)


def apply(findings: list[VulnFinding], entries: list[IgnoreEntry], today: dt.date) -> Applied:
    suppressed: dict[int, IgnoreEntry] = {}
    expired: list[tuple[IgnoreEntry, int]] = []
    unused: list[IgnoreEntry] = []
    for entry in entries:
        matched = [i for i, f in enumerate(findings) if entry.matches(f)]
        if entry.expired(today):
            expired.append((entry, len(matched)))
            continue
        if not matched:
            unused.append(entry)
        for i in matched:
            suppressed.setdefault(i, entry)
    return Applied(suppressed, expired, unused)
