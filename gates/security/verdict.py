"""Judge one pickle global: dangerous, allowed or unknown.

- dangerous: picklescan's deny list (os, subprocess, builtins.eval, ...), mlgate's additions (importlib, marshal,
  loaders that would open a second, unscanned file, ...), or a name that reaches one of those through a re-export
  or a module attribute (`sklearn.os.system`). Deny lists always win.
- allowed: exactly a name in known_globals.json (what scikit-learn, numpy, scipy, pandas, joblib and torch write
  into their own pickles, collected by tests/security/pickle_globals.py) or a name the user vetted.
- unknown: everything else, including any other function or attribute of an allowed package. Allowing by module
  is a gadget source: a library function may return getattr(obj, name), and compiled modules expose os and
  __builtins__ as attributes; so nothing is allowed for living in a trusted package.
"""

from __future__ import annotations

import functools
import io
import json
import struct
from collections.abc import Iterable
from pathlib import Path

from gates.core.errors import InputError
from gates.security.names import origins

_KNOWN_FILE = Path(__file__).with_name("known_globals.json")

# Dangerous in addition to picklescan's list: ways to import, to run code, or to load a second, unscanned file.
_EXTRA_DANGEROUS = (
    "builtins.__import__",
    "builtins.globals",
    "builtins.locals",
    "builtins.vars",
    "builtins.setattr",
    "builtins.delattr",
    "builtins.input",
    "builtins.print",
    "builtins.type",
    "builtins.breakpoint",
    "importlib",
    "marshal",
    "io.open",
    "io.FileIO",
    "_io.open",
    "codecs.open",
    "tempfile",
    "inspect",
    "multiprocessing",
    "_thread",
    "threading",
    "signal",
    "site",
    "zipimport",
    "codeop",
    "code",
    "dill",
    "cloudpickle",
    "pandas.read_pickle",
    "pandas.io.pickle",
    "numpy.load",
    "numpy.lib.npyio",
    "numpy.fromfile",
    "numpy.ctypeslib",
    "joblib.load",
    "joblib.numpy_pickle.load",
    "torch.load",
    "torch.storage._load_from_bytes",
    "keras.models.load_model",
    "sklearn.datasets",
    "sklearn.utils._testing",
    "sklearn.externals",
    "copyreg.add_extension",
    "_ctypes",
    "_posixsubprocess",
    "_winapi",
    "pkgutil",
    "shelve",
    "logging.config",
    "types.FunctionType",
    "types.MethodType",
    "pty",
    "posix",
    "nt",
)

ALLOW_FLAG = "--allow-global MODULE.NAME (security.artifacts.allowed_globals)"


@functools.lru_cache(maxsize=1)
def known_globals() -> frozenset[tuple[str, str]]:
    """The (module, qualified name) pairs the libraries write for their ordinary objects, plus vetted additions."""
    data = json.loads(_KNOWN_FILE.read_text(encoding="utf-8"))
    entries = [*data["collected"], *data["added"]]
    return frozenset((e.partition(":")[0], e.partition(":")[2]) for e in entries)


def parse_allowed(
    entries: Iterable[str], where: str = "security.artifacts.allowed_globals"
) -> frozenset[tuple[str, str]]:
    """User entries as exact (module, qualified name) pairs: MODULE.NAME, or MODULE:QUAL.NAME for a nested name.

    A bare module or package is refused: allowing every name a package binds is what gadget chains exploit.
    """
    pairs = set()
    for entry in entries:
        module, colon, qualname = entry.partition(":")
        if not colon:
            module, _, qualname = entry.rpartition(".")
        names = [*module.split("."), *qualname.split(".")]
        if not module or not qualname or not all(n.isidentifier() for n in names):
            raise InputError(
                f"{where}: {entry!r}: expected one exact name, MODULE.NAME or MODULE:QUALIFIED.NAME "
                f"(a whole module or package cannot be allowed)"
            )
        pairs.add((module, qualname))
    return frozenset(pairs)


def _under(full: str, names: Iterable[str]) -> str | None:
    for name in names:
        if full == name or full.startswith(name + "."):
            return name
    return None


def _picklescan_safety(module: str, name: str) -> str:
    """Ask picklescan (through its public API) how it rates one global: innocuous, suspicious or dangerous;
    "unrated" when picklescan fails on the probe (not cached: the scan's second opinion reads the file with
    picklescan too, and its failure there makes the scan an error, never a crash or a pass).

    picklescan rates every global it has no list entry for "suspicious" (every scikit-learn class, for one), so
    "suspicious" is never a reason to allow: only mlgate's exact list allows.
    """
    try:
        return _picklescan_rating(module, name)
    except Exception:  # noqa: BLE001 - any failure of the second opinion's library is the same finding
        return "unrated"


@functools.lru_cache(maxsize=4096)
def _picklescan_rating(module: str, name: str) -> str:
    from picklescan.scanner import scan_pickle_bytes

    def text(s: str) -> bytes:
        data = s.encode("utf-8", "surrogatepass")
        return (
            b"\x8c" + bytes([len(data)]) + data
            if len(data) < 256
            else b"X" + struct.pack("<I", len(data)) + data
        )

    probe = b"\x80\x04" + text(module) + text(name) + b"\x93."
    result = scan_pickle_bytes(io.BytesIO(probe), "probe")
    return result.globals[0].safety.value if result.globals else "dangerous"


def _denied(module: str, name: str) -> str | None:
    """None, or the deny-listed name it is or reaches through a dotted name: ('sklearn', 'os.system') is
    sklearn's attribute os (the os module), then its attribute system."""
    full = f"{module}.{name}"
    if _under(full, _EXTRA_DANGEROUS) or _picklescan_safety(module, name) == "dangerous":
        return full
    mparts, qparts = module.split("."), name.split(".")
    parts = mparts + qparts
    for split in range(len(mparts) + 1, len(parts)):  # ('numpy', 'core.x') is also ('numpy.core', 'x')
        if _picklescan_safety(".".join(parts[:split]), ".".join(parts[split:])) == "dangerous":
            return full
    for start in range(len(mparts), len(parts) - 1):  # every dotted suffix of the qualified name: os.system
        suffix = ".".join(parts[start:])
        if _under(suffix, _EXTRA_DANGEROUS):
            return suffix
        for split in range(start + 1, len(parts)):
            if _picklescan_safety(".".join(parts[start:split]), ".".join(parts[split:])) == "dangerous":
                return suffix
    return None


def _denied_module(module: str) -> bool:
    """A module object from a deny-listed module (os, subprocess, importlib, ...)."""
    return (
        bool(_under(module, _EXTRA_DANGEROUS))
        or _picklescan_safety(module, "__mlgate_any_name__") == "dangerous"
    )


def judge(module: str, name: str, allowed: frozenset[tuple[str, str]] = frozenset()) -> tuple[str, str]:
    """(dangerous | allowed | unknown, why) for the global pickle would load as find_class(module, name)."""
    return _judge(module, name, allowed, 0)


@functools.lru_cache(maxsize=8192)
def _judge(module: str, name: str, allowed: frozenset[tuple[str, str]], depth: int) -> tuple[str, str]:
    denied = _denied(module, name)
    if denied:
        return "dangerous", "" if denied == f"{module}.{name}" else f"reaches {denied} through attributes"
    first, _, rest = name.partition(".")
    found = origins(module, first) if depth < 8 else []
    for origin in found:  # what the name really is: a deny-listed function or module reached through another
        if origin.kind == "reexport" and origin.target:
            target = origin.target[1] + (f".{rest}" if rest else "")
            if _judge(origin.target[0], target, allowed, depth + 1)[0] == "dangerous":
                return "dangerous", origin.describe(module, first)
        elif (
            origin.kind == "module"
            and origin.target
            and (_denied_module(origin.target[0]) or (rest and _denied(origin.target[0], rest)))
        ):
            return "dangerous", origin.describe(module, first)
    if (module, name) in known_globals() or (module, name) in allowed:
        module_object = next((o for o in found if o.kind == "module"), None) if not rest else None
        if module_object is not None:  # a module object can have its attributes rewritten by BUILD
            return "unknown", module_object.describe(module, first)
        return "allowed", ""
    return "unknown", f"not one of the names ordinary models use; if vetted, allow it with {ALLOW_FLAG}"
