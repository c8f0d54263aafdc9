"""What a gate needs from its surroundings: where relative paths start, defaults, and a record of inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.core.errors import InputError

if TYPE_CHECKING:
    from gates.core.settings.base import Bootstrap, Defaults

__all__ = ["Bootstrap", "GateContext", "sha256_file"]


def __getattr__(name: str) -> Any:
    """`Bootstrap` (the bootstrap settings) on first use: building the settings models costs a few hundred
    milliseconds that `mlgate --help` need not pay."""
    if name == "Bootstrap":
        from gates.core.settings.base import Bootstrap

        return Bootstrap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class GateContext:
    """Shared by the gates of one run; it remembers every file read so the audit trail can hash them."""

    base_dir: Path
    report_dir: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = "command line"
    inputs: dict[str, str] = field(default_factory=dict)
    # the policy's `engine:` section (gates.engine.choose)
    engine: dict[str, Any] = field(default_factory=dict)

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

    def typed_defaults(self) -> Defaults:
        """`defaults` as validated settings (the policy validated them; code may also pass a mapping)."""
        from gates.core.settings.base import Defaults

        return Defaults.model_validate(self.defaults)

    def bootstrap(self, section: object) -> Bootstrap:
        """The section's bootstrap keys (typed settings, or a mapping given in code) over `defaults.bootstrap`
        over the built-in values, key by key."""
        from gates.core.settings.base import Bootstrap

        own: Bootstrap | None = (
            Bootstrap.model_validate(section.get("bootstrap") or {})
            if isinstance(section, Mapping)
            else getattr(section, "bootstrap", None)
        )
        return Bootstrap.layered(self.typed_defaults().bootstrap, own)

    def decide_on(self, section: object) -> str:
        """The section's decide_on, else `defaults.decide_on`."""
        own = (
            section.get("decide_on") if isinstance(section, Mapping) else getattr(section, "decide_on", None)
        )
        return str(own or self.typed_defaults().decide_on)


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
