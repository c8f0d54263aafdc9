"""What a gate needs from its surroundings: where relative paths start, defaults, and a record of inputs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.errors import InputError

DEFAULT_BOOTSTRAP = {"confidence": 0.95, "resamples": 1000, "seed": 0}


@dataclass(frozen=True)
class Bootstrap:
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0


@dataclass
class GateContext:
    """Shared by the gates of one run; it remembers every file read so the audit trail can hash them."""

    base_dir: Path
    report_dir: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = "command line"
    inputs: dict[str, str] = field(default_factory=dict)

    def path(self, relative: str, must_exist: bool = True, what: str = "input file") -> Path:
        """Resolve a policy path against the policy's folder and record it as an input of this run."""
        path = Path(relative)
        if not path.is_absolute():
            path = self.base_dir / path
        if must_exist:
            if not path.exists():
                raise InputError(f"{relative}: {what} not found")
            if path.is_file():
                self.inputs[str(path)] = sha256_file(path)
        return path

    def bootstrap(self, section: dict[str, Any]) -> Bootstrap:
        merged = {**DEFAULT_BOOTSTRAP, **self.defaults.get("bootstrap", {}), **section.get("bootstrap", {})}
        return Bootstrap(**merged)

    def decide_on(self, section: dict[str, Any]) -> str:
        return section.get("decide_on", self.defaults.get("decide_on", "point"))


_HASHED: dict[
    tuple[str, int, int], str
] = {}  # (path, size, mtime_ns) -> sha256, so gates sharing a file hash it once


def sha256_file(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        if len(_HASHED) > 256:
            _HASHED.clear()
        _HASHED[key] = _sha256(path)
    return _HASHED[key]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
