"""What scanning one model artifact found: the globals it imports, rule hits, notes; shared by every format reader.

Kept apart from the readers so that each format module (pickle, zip and tar, Keras, tensor formats) can add to
one report without importing the dispatcher that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gates.security.common import RuleHit
from gates.security.verdict import judge, parse_allowed


@dataclass(frozen=True)
class ScanOptions:
    """Names the user vetted (exact (module, name) pairs) and the largest stream read into memory."""

    allowed: frozenset[tuple[str, str]] = frozenset()
    max_bytes: int = 4 << 30

    @classmethod
    def from_entries(cls, entries: list[str] | tuple[str, ...], max_bytes: int = 4 << 30) -> ScanOptions:
        return cls(parse_allowed(entries), max_bytes)


@dataclass
class GlobalRef:
    module: str
    name: str
    safety: str
    member: str | None = None  # archive member or decompressed stream
    offset: int | None = None
    why: str = ""  # what the name really is, when that is not what it says (a re-export, a module, ...)

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class ArtifactReport:
    path: str
    formats: list[str] = field(default_factory=list)
    globals: list[GlobalRef] = field(default_factory=list)
    hits: list[RuleHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        """Every format a loader could read the file as, e.g. 'safetensors + pickle' for a polyglot."""
        return " + ".join(dict.fromkeys(self.formats)) or "unknown"

    def hit(self, rule: str, message: str, member: str | None = None, **props: Any) -> None:
        self.hits.append(RuleHit(rule, message, self.path, subject=member or "", properties=props))

    def add_global(
        self, module: str, name: str, options: ScanOptions, member: str | None, offset: int | None, verb: str
    ) -> None:
        """Judge one imported name and record it (once per member), with a hit unless it is allowed."""
        if any(g.module == module and g.name == name and g.member == member for g in self.globals):
            return
        safety, why = judge(module, name, options.allowed)
        ref = GlobalRef(module, name, safety, member, offset, why)
        self.globals.append(ref)
        suffix = f" ({why})" if why else ""
        if safety == "dangerous":
            self.hit(
                "artifact.dangerous-global",
                f"{verb} {ref.full}, which can run code when loaded{suffix}",
                member,
                **{"global": ref.full},
            )
        elif safety == "unknown":
            self.hit(
                "artifact.unknown-global",
                f"{verb} {ref.full}, which is not in the allow list{suffix}",
                member,
                **{"global": ref.full},
            )
