"""Model artifacts scanned before anything loads them: pickle, joblib, PyTorch, numpy, Keras, skops, safetensors.

Every global a pickle imports is classified:
- dangerous: picklescan's deny list (os, subprocess, builtins.eval, ...) or mlgate's additions (importlib,
  marshal, file loaders that would open a second pickle, ...). Always a failure.
- allowed: under a name in the allow list (scikit-learn, numpy's array and dtype rebuilders, ...; the policy
  adds more with `allowed_globals`).
- unknown: anything else. A failure by default (rule artifact.unknown-global), because a deny list cannot know
  every dangerous callable; vet the module and allow it.
The format is recognised from the bytes, not the file name; a file that is none of the known formats is an
error, never a pass. `require_safe_artifact(path)` is what mlgate's own loaders call first.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import json
import lzma
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, Location, Status
from gates.security.common import Part, RuleHit, markdown_table, rule_finding
from gates.security.names import Origin, origins
from gates.security.pickle_walk import walk
from gates.security.rules import level_of

CATEGORY = "artifacts"

MODEL_SUFFIXES = {
    ".pkl",
    ".pickle",
    ".joblib",
    ".jbl",
    ".pt",
    ".pth",
    ".bin",
    ".ckpt",
    ".npy",
    ".npz",
    ".keras",
    ".h5",
    ".hdf5",
    ".skops",
    ".safetensors",
    ".sav",
    ".dat",
    ".z",
    ".gz",
    ".bz2",
    ".xz",
    ".lzma",
    ".onnx",
    ".model",
}

DEFAULT_ALLOWED = (
    "sklearn",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.random._pickle",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.ma.core._mareconstruct",
    "scipy.sparse",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.deque",
    "_codecs.encode",
    "copyreg._reconstructor",
    "builtins.object",
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.range",
    "builtins.complex",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.int",
    "builtins.float",
    "builtins.str",
    "builtins.bool",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "decimal.Decimal",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_tensor",
    "torch.Size",
    "torch.device",
    "torch.float32",
    "torch.float16",
    "torch.bfloat16",
    "torch.float64",
    "torch.int64",
    "torch.int32",
    "torch.int8",
    "torch.uint8",
    "torch.bool",
    *(
        f"torch.{kind}Storage"
        for kind in (
            "Float",
            "Double",
            "Half",
            "BFloat16",
            "Long",
            "Int",
            "Short",
            "Char",
            "Byte",
            "Bool",
            "ComplexFloat",
            "ComplexDouble",
        )
    ),
    # numpy scalar types and random generators, as scikit-learn models with a random_state pickle them
    *(
        f"numpy.{kind}"
        for kind in (
            "bool_",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
            "longdouble",
            "complex64",
            "complex128",
            "str_",
            "bytes_",
            "datetime64",
            "timedelta64",
        )
    ),
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "numpy.random.mtrand.RandomState",
    "numpy._core._internal._convert_to_stringdtype_kwargs",
)

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
    "importlib",
    "marshal",
    "io.open",
    "io.FileIO",
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
    "joblib.load",
    "joblib.numpy_pickle.load",
    "torch.load",
    "torch.storage._load_from_bytes",
    "keras.models.load_model",
    "sklearn.datasets",
    "sklearn.utils._testing",
    "sklearn.externals",
    "copyreg.add_extension",
    "builtins.type",
    "builtins.breakpoint",
    "_ctypes",
    "_posixsubprocess",
    "_winapi",
    "numpy.ctypeslib",
    "pkgutil",
    "shelve",
    "logging.config",
    "types.FunctionType",
    "types.MethodType",
    "_io.open",
    "pty",
    "posix",
    "nt",
)


def _under(full: str, names: Iterable[str]) -> str | None:
    for name in names:
        if full == name or full.startswith(name + "."):
            return name
    return None


@functools.lru_cache(maxsize=4096)
def _picklescan_safety(module: str, name: str) -> str:
    """Ask picklescan (through its public API) how it rates one global: innocuous, suspicious or dangerous.

    picklescan rates every global it has no list entry for "suspicious" (every scikit-learn class, for one), so
    "suspicious" is never a reason to allow: such a global is allowed only by mlgate's own allow list.
    """
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


@functools.lru_cache(maxsize=64)
def _allow_entries(
    allowed: tuple[str, ...],
) -> tuple[frozenset[tuple[str, str]], frozenset[str], tuple[str, ...]]:
    """(exact (module, qualname) pairs from MODULE:QUALNAME entries, dotted entries, the same as prefixes)."""
    pairs = frozenset((e.partition(":")[0], e.partition(":")[2]) for e in allowed if ":" in e)
    dotted = tuple(e for e in allowed if ":" not in e and e)
    return pairs, frozenset(dotted), dotted


def judge(module: str, name: str, allowed: tuple[str, ...]) -> tuple[str, str]:
    """(dangerous | allowed | unknown, why) for the global pickle would load as find_class(module, name).

    Deny lists win. A name with a dot is followed attribute by attribute from the module, so it can reach
    anything the module imports: it is allowed only by an exact MODULE:QUALNAME entry. An entry without a
    colon allows module.name exactly (a vetted name: anything but a module object), and names defined in that
    module or package (class or def in its source, or in a compiled extension): re-exports are followed to
    where they come from, and module objects, assignments and names the source does not bind are unknown.
    """
    return _judge(module, name, tuple(allowed), 0)


@functools.lru_cache(maxsize=8192)
def _judge(module: str, name: str, allowed: tuple[str, ...], depth: int) -> tuple[str, str]:
    denied = _denied(module, name)
    if denied:
        return "dangerous", "" if denied == f"{module}.{name}" else f"reaches {denied} through attributes"
    first, _, rest = name.partition(".")
    found = origins(module, first) if depth < 8 else [Origin("assigned")]
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
    pairs, exact, prefixes = _allow_entries(allowed)
    if (module, name) in pairs or (not rest and f"{module}.{name}" in exact):
        module_object = next((o for o in found if o.kind == "module"), None) if not rest else None
        if module_object is not None:
            return "unknown", module_object.describe(module, first)
        return "allowed", ""
    if rest:
        return "unknown", (
            f"a dotted name is followed attribute by attribute from {module}, so it can reach "
            f"anything {module} imports; if vetted, allow exactly {module}:{name}"
        )
    if not any(module == p or module.startswith(p + ".") for p in prefixes):
        return "unknown", ""
    for origin in found:
        if origin.kind in ("defined", "compiled"):
            continue
        if (
            origin.kind == "reexport"
            and origin.target
            and _judge(origin.target[0], origin.target[1], allowed, depth + 1)[0] == "allowed"
        ):
            continue
        return "unknown", origin.describe(module, name)
    return "allowed", ""


def classify(module: str, name: str, allowed: tuple[str, ...]) -> str:
    """dangerous, allowed or unknown (see `judge`); the deny lists win over the allow list."""
    return judge(module, name, allowed)[0]


@dataclass
class GlobalRef:
    module: str
    name: str
    safety: str
    member: str | None = None  # archive member (zip) or part of the stream
    offset: int | None = None
    why: str = ""  # what the name really is, when that is not what it says (a re-export, a module, ...)

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class ArtifactReport:
    path: str
    format: str = "unknown"
    globals: list[GlobalRef] = field(default_factory=list)
    hits: list[RuleHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def hit(self, rule: str, message: str, member: str | None = None, **props: Any) -> None:
        self.hits.append(RuleHit(rule, message, self.path, subject=member or "", properties=props))


@dataclass(frozen=True)
class ScanOptions:
    allowed: tuple[str, ...] = DEFAULT_ALLOWED
    max_bytes: int = 4 << 30  # largest (decompressed) stream read into memory


# --- format detection and scanning -----------------------------------------------------------------------------

_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_NUMPY_MAGIC = b"\x93NUMPY"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _decompress(data: bytes, kind: str, limit: int) -> bytes:
    if kind == "zlib":
        d = zlib.decompressobj()
        out = d.decompress(data, limit + 1)
    elif kind == "gzip":
        out = gzip.GzipFile(fileobj=io.BytesIO(data)).read(limit + 1)
    elif kind == "bz2":
        out = bz2.BZ2Decompressor().decompress(data, limit + 1)
    elif kind in ("xz", "lzma"):
        out = lzma.LZMADecompressor().decompress(data, limit + 1)
    else:
        import lz4.frame  # a declared dependency, imported only for the joblib files that need it

        out = lz4.frame.LZ4FrameDecompressor().decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"decompresses to more than {limit >> 20} MiB (security.artifacts.max_mb)")
    return out


_PROTOCOLS = tuple(bytes([n]) for n in range(2, 6))


def _py3_name(module: str, name: str) -> tuple[str, str]:
    """Python 2 names in old pickles (__builtin__.eval) as Python 3 loads them (builtins.eval)."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _looks_like_pickle(head: bytes) -> bool:
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head[:1] in (
        b"(",
        b"c",
        b"}",
        b"]",
        b"I",
        b"N",
        b"S",
        b"V",
        b"\x80",
    )


def _global_hit(report: ArtifactReport, ref: GlobalRef, verb: str) -> None:
    why = f" ({ref.why})" if ref.why else ""
    if ref.safety == "dangerous":
        report.hit(
            "artifact.dangerous-global",
            f"{verb} {ref.full}, which can run code when loaded{why}",
            ref.member,
            **{"global": ref.full},
        )
    elif ref.safety == "unknown":
        report.hit(
            "artifact.unknown-global",
            f"{verb} {ref.full}, which is not in the allow list{why}",
            ref.member,
            **{"global": ref.full},
        )


def scan_pickle_stream(
    report: ArtifactReport,
    data: bytes,
    member: str | None,
    options: ScanOptions,
    stop_after: int | None = None,
) -> bool:
    """Walk one pickle stream (with picklescan as a second opinion); False when it is no pickle at all."""
    walked = walk(io.BytesIO(data), stop_after=stop_after)
    if walked.pickles == 0 and not walked.globals and not (data[:1] == b"\x80" and data[1:2] in _PROTOCOLS):
        return False
    if (
        stop_after is None
        and walked.values
        and isinstance(walked.values[0], int)
        and walked.values[0] == _TORCH_LEGACY_MAGIC
    ):
        walked = walk(io.BytesIO(data), stop_after=5)  # legacy torch.save: 5 pickles, then raw storages
        report.format = "pytorch (legacy)"
    seen = {(m, n) for m, n, _ in walked.globals}
    found: list[tuple[str, str, int | None]] = [(m, n, off) for m, n, off in walked.globals]
    try:
        from picklescan.scanner import scan_pickle_bytes

        second = scan_pickle_bytes(io.BytesIO(data), report.path + (f":{member}" if member else ""))
        for g in second.globals:
            module, name = _py3_name(g.module, g.name)
            if (module, name) not in seen:
                found.append((module, name, None))
    except Exception as exc:  # noqa: BLE001 - picklescan is a second opinion; the walker's verdict stands
        report.notes.append(f"picklescan could not read {member or 'the stream'}: {exc}")
    if walked.joblib_arrays:
        report.notes.append(f"{walked.joblib_arrays} joblib array(s) stepped over")
    done: set[tuple[str, str]] = set()
    for module, name, offset in found:
        if (module, name) in done:
            continue
        done.add((module, name))
        safety, why = judge(module, name, options.allowed)
        ref = GlobalRef(module, name, safety, member, offset, why)
        report.globals.append(ref)
        _global_hit(report, ref, "imports")
    if walked.error:
        report.hit("artifact.unreadable", f"pickle stream breaks off: {walked.error}", member)
    return True


def _scan_npy(report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions) -> None:
    import numpy as np

    handle = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except ValueError as exc:
        report.hit("artifact.unreadable", f"numpy header not readable: {exc}", member)
        return
    if dtype.hasobject:
        report.notes.append(
            f"{member or 'array'}: object array {shape}: a pickle, loadable only with allow_pickle"
        )
        if not scan_pickle_stream(report, data[handle.tell() :], member, options):
            report.hit("artifact.unreadable", "object array whose data is not a pickle", member)


def _keras_config_hits(report: ArtifactReport, config: Any, member: str, options: ScanOptions) -> None:
    """Lambda layers carry marshalled Python bytecode; custom objects name a module that would be imported."""
    stack: list[tuple[Any, bool]] = [(config, False)]
    while stack:
        node, in_lambda = stack.pop()
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls == "Lambda" or (cls == "__lambda__" and not in_lambda):
                name = (
                    (node.get("config") or {}).get("name") if isinstance(node.get("config"), dict) else None
                )
                what = "Lambda layer" if cls == "Lambda" else "serialized lambda"
                report.hit(
                    "artifact.keras-lambda",
                    f"{what}{' ' + repr(name) if name else ''} holds serialized Python code",
                    member,
                )
                in_lambda = True
            module = node.get("module")
            if (
                isinstance(cls, str)
                and isinstance(module, str)
                and not module.startswith(("keras", "tensorflow"))
                and module not in ("builtins",)
            ):
                full = f"{module}.{node.get('registered_name') or cls}"
                safety = "allowed" if _under(full, options.allowed) else "unknown"
                report.globals.append(
                    GlobalRef(module, str(node.get("registered_name") or cls), safety, member)
                )
                if safety == "unknown":
                    report.hit(
                        "artifact.unknown-global",
                        f"custom object {full} would be imported",
                        member,
                        **{"global": full},
                    )
            stack.extend((value, in_lambda) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, in_lambda) for value in node)


def _scan_zip(report: ArtifactReport, data: bytes, options: ScanOptions, suffix: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.hit("artifact.unreadable", f"damaged zip archive: {exc}")
        return
    if "schema.json" in names and (
        suffix == ".skops" or any(n.endswith(".npy") for n in names) or len(names) == 1
    ):
        report.format = "skops"
        _scan_skops(report, options)
        return
    if "config.json" in names and ("metadata.json" in names or suffix == ".keras"):
        report.format = "keras"
        try:
            config = json.loads(archive.read("config.json"))
        except (ValueError, KeyError, zipfile.BadZipFile) as exc:
            report.hit("artifact.unreadable", f"config.json not readable: {exc}", "config.json")
            return
        _keras_config_hits(report, config, "config.json", options)
        return
    recognised = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        try:
            if info.file_size > options.max_bytes:
                raise ValueError(f"member larger than {options.max_bytes >> 20} MiB")
            body = archive.read(info.filename)
        except (zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError, OSError) as exc:
            report.hit("artifact.unreadable", f"cannot read member: {exc}", info.filename)
            continue
        member_suffix = os.path.splitext(info.filename)[1].lower()
        if body.startswith(_NUMPY_MAGIC):
            recognised += 1
            _scan_npy(report, body, info.filename, options)
        elif member_suffix in (".pkl", ".pickle") or (
            body[:1] == b"\x80" and 2 <= body[1:2][0] <= 5 if len(body) > 1 else False
        ):
            recognised += 1
            if not scan_pickle_stream(report, body, info.filename, options):
                report.hit("artifact.unreadable", "member named like a pickle is no pickle", info.filename)
    if any(n.endswith("data.pkl") for n in names):
        report.format = "pytorch (zip)"
    elif names and all(n.endswith(".npy") for n in names):
        report.format = "numpy (.npz)"
    else:
        report.format = "zip"
    if not recognised:
        report.format = "unknown"
        report.hit("artifact.unknown-format", "zip archive with no pickle, numpy, Keras or skops content")


def _scan_skops(report: ArtifactReport, options: ScanOptions) -> None:
    try:
        from skops.io import get_untrusted_types
    except ImportError:
        report.hit("artifact.unreadable", "skops file, but skops is not installed (pip install skops)")
        return
    try:
        types = get_untrusted_types(file=report.path)
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on damaged files
        report.hit("artifact.unreadable", f"skops could not read the file: {exc}")
        return
    for full in types:
        module, _, name = full.rpartition(".")
        safety, why = judge(module, name, options.allowed)
        ref = GlobalRef(module, name, safety, "schema.json", why=why)
        report.globals.append(ref)
        _global_hit(report, ref, "untrusted type")
    report.notes.append(f"skops untrusted types: {', '.join(types) if types else 'none'}")


def _scan_hdf5(report: ArtifactReport, path: Path, options: ScanOptions) -> None:
    report.format = "keras (HDF5)"
    import h5py  # a declared dependency: a byte search for the config would miss compressed or chunked attributes

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError as exc:
        report.hit("artifact.unreadable", f"HDF5 file not readable: {exc}")
        return
    if raw is None:
        report.notes.append("HDF5 without a Keras model config (weights only): no code")
        return
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except ValueError as exc:
        report.hit("artifact.unreadable", f"model_config is not JSON: {exc}")
        return
    _keras_config_hits(report, config, "model_config", options)


def _scan_safetensors(report: ArtifactReport, data: bytes) -> bool:
    if len(data) < 10:
        return False
    size = struct.unpack("<Q", data[:8])[0]
    if size <= 0 or 8 + size > len(data) or data[8:9] != b"{":
        return False
    try:
        json.loads(data[8 : 8 + size])
    except ValueError:
        return False
    report.format = "safetensors"
    report.notes.append("safetensors: tensors and a JSON header, no code")
    return True


_ONNX_MODEL_FIELDS = {
    1: 0,
    2: 2,
    3: 2,
    4: 2,
    5: 0,
    6: 2,
    7: 2,
    8: 2,
    14: 2,
    20: 2,
    25: 2,
    26: 2,
}  # number: wire type


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _onnx_fields(data: bytes) -> dict[int, list[Any]] | None:
    """The top-level fields of an ONNX ModelProto, or None unless the whole file is one."""
    fields: dict[int, list[Any]] = {}
    pos = 0
    value: int | bytes
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if _ONNX_MODEL_FIELDS.get(number) != wire:
                return None
            if wire == 0:
                value, pos = _varint(data, pos)
            else:
                size, pos = _varint(data, pos)
                if pos + size > len(data):
                    return None
                value, pos = data[pos : pos + size], pos + size
            fields.setdefault(number, []).append(value)
    except ValueError:
        return None
    return fields


def _scan_onnx(report: ArtifactReport, data: bytes) -> bool:
    """ONNX: a protobuf ModelProto (IR version and a graph). Operators are data; loading runs no Python code."""
    fields = _onnx_fields(data)
    if not fields or not fields.get(7) or not all(1 <= v <= 64 for v in fields.get(1, [0])):
        return False
    report.format = "onnx"
    note = "onnx: a protobuf graph of operators, no Python code"
    if b"location" in data:
        note += "; tensors kept in external data files are not part of this scan"
    report.notes.append(note)
    return True


def scan_artifact(path: Path, options: ScanOptions | None = None, label: str | None = None) -> ArtifactReport:
    """Scan one file without loading it."""
    options = options or ScanOptions()
    report = ArtifactReport(path=str(path))
    label = label or str(path)
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
        if size > options.max_bytes:
            report.hit(
                "artifact.unreadable",
                f"{size >> 20} MiB is over the {options.max_bytes >> 20} MiB limit "
                f"(security.artifacts.max_mb)",
            )
            return report
        with path.open("rb") as handle:
            head = handle.read(16)
            if head.startswith(_HDF5_MAGIC):
                _scan_hdf5(report, path, options)
                return report
            handle.seek(0)
            data = handle.read()
    except OSError as exc:
        report.hit("artifact.unreadable", f"cannot read: {exc.strerror or exc}")
        return report
    if not data:
        report.hit("artifact.unreadable", "empty file")
        return report
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        _scan_zip(report, data, options, suffix)
        return report
    if data.startswith(_NUMPY_MAGIC):
        report.format = "numpy (.npy)"
        _scan_npy(report, data, None, options)
        return report
    compression = _compression_of(data)
    if compression:
        try:
            data = _decompress(data, compression, options.max_bytes)
        except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            report.hit("artifact.unreadable", f"{compression}-compressed stream not readable: {exc}")
            return report
        member = f"{compression} stream"
        report.format = f"pickle ({compression}-compressed, joblib)"
    else:
        member = None
        if _scan_safetensors(report, data):
            return report
        report.format = "pickle"
    if _looks_like_pickle(data[:2]) and scan_pickle_stream(report, data, member, options):
        if any(g.full == "joblib.numpy_pickle.NumpyArrayWrapper" for g in report.globals) and not compression:
            report.format = "pickle (joblib)"
        return report
    if not compression and _scan_onnx(report, data):
        return report
    report.format = "unknown"
    report.hit(
        "artifact.unknown-format",
        f"not a pickle, joblib, PyTorch, numpy, Keras, skops, safetensors or ONNX "
        f"file (starts with {data[:8]!r})",
    )
    return report


def status_of(report: ArtifactReport, levels: dict[str, str]) -> Status:
    statuses = [Status.PASS]
    for hit in report.hits:
        level = level_of(hit.rule, levels)
        if level == "off":
            continue
        if hit.rule in ("artifact.unreadable", "artifact.unknown-format") and level == "error":
            statuses.append(Status.ERROR)
        elif level == "error":
            statuses.append(Status.FAIL)
        elif level == "warning":
            statuses.append(Status.WARN)
    if any(h.rule == "artifact.dangerous-global" and level_of(h.rule, levels) != "off" for h in report.hits):
        return Status.FAIL  # a file known to run code is a failure even if part of it could not be read
    return max(statuses, key=lambda s: s.severity)


def require_safe_artifact(path: str | Path, allowed_globals: Iterable[str] = ()) -> None:
    """Raise InputError unless the file passes the artifact scan with default rules (call it before loading).

    `allowed_globals` adds trusted names to the default allow list (as in `--allow-global`), as
    `security.artifacts.allowed_globals` does in the policy.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model artifact not found")
    report = scan_artifact(path, ScanOptions(allowed=DEFAULT_ALLOWED + tuple(allowed_globals)))
    if report.hits:
        first = report.hits[0]
        where = f" ({first.subject})" if first.subject else ""
        more = (
            f" (and {len(report.hits) - 1} more problem{'s' if len(report.hits) > 2 else ''})"
            if len(report.hits) > 1
            else ""
        )
        raise InputError(
            f"{path}: refused to load this model artifact: {first.message}{where}{more}; "
            f"see `mlgate security --artifacts {path}`"
        )


def _compression_of(data: bytes) -> str | None:
    if data[:1] == b"\x78" and len(data) > 1 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return next((kind for magic, kind in _COMPRESSED if data.startswith(magic)), None)


def _decompressed_prefix(data: bytes, kind: str, limit: int) -> bytes:
    """As much of a compressed stream as decompresses (a truncated file still feeds a loader its prefix)."""
    if kind in ("zlib", "gzip"):
        return zlib.decompressobj(wbits=47).decompress(data, limit)  # 47: zlib or gzip header
    if kind == "bz2":
        return bz2.BZ2Decompressor().decompress(data, limit)
    return lzma.LZMADecompressor().decompress(data, limit)


def _importable(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def may_be_model(path: Path, options: ScanOptions | None = None) -> bool:
    """Whether a file could be loaded as a model, judged by its bytes, not its name.

    Yes for every format scan_artifact reads by its magic bytes (zip, numpy, HDF5, pickle protocol 2-5,
    safetensors, compressed pickles, ONNX) and for any file that the pickle machinery reads as at least one
    complete pickle, or in which it meets an import of a module and name that could exist (protocol 0 and 1
    pickles start with an opcode, not a signature). Everything else cannot be loaded as a model and is skipped.
    """
    options = options or ScanOptions()
    try:
        if path.stat().st_size > options.max_bytes:
            return True  # scan_artifact reports it as over the size limit
        data = path.read_bytes()
    except OSError:
        return True  # scan_artifact reports why it cannot be read
    if not data:
        return False
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", _NUMPY_MAGIC, _HDF5_MAGIC)) or (
        data[0] == 0x80 and len(data) > 1 and 2 <= data[1] <= 5
    ):
        return True
    if _scan_safetensors(ArtifactReport(str(path)), data) or _scan_onnx(ArtifactReport(str(path)), data):
        return True
    compression = _compression_of(data)
    if compression == "lz4":
        return True
    if compression:
        try:
            data = _decompressed_prefix(data, compression, options.max_bytes)
        except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError):
            return False  # not even its first block decompresses: no loader gets a byte out of it
        if not data:
            return False
        if data[0] == 0x80 and len(data) > 1 and 2 <= data[1] <= 5:
            return True
    walked = walk(io.BytesIO(data))
    return walked.pickles > 0 or any(_importable(m) and _importable(n) for m, n, _ in walked.globals)


def expand(
    paths: list[str], ctx: GateContext, options: ScanOptions | None = None
) -> tuple[list[tuple[str, Path]], list[str]]:
    """(files to scan, files skipped). Files and glob matches are scanned as given. In a directory every regular
    file is scanned whose name has a model suffix or whose bytes could be a model (`may_be_model`), whatever its
    name (a pickle called weights.model is still a pickle); the others are skipped and listed."""
    out: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for raw in paths:
        if any(ch in raw for ch in "*?["):
            matches = (
                sorted(ctx.base_dir.glob(raw))
                if not Path(raw).is_absolute()
                else sorted(Path("/").glob(raw.lstrip("/")))
            )
            if not matches:
                raise InputError(f"{raw}: no model artifact matches this pattern")
            out += [(str(m), ctx.path(str(m.resolve()))) for m in matches if m.is_file()]
            continue
        path = ctx.path(raw, what="model artifact")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            found = [p for p in files if p.suffix.lower() in MODEL_SUFFIXES or may_be_model(p, options)]
            skipped += [str(Path(raw) / p.relative_to(path)) for p in files if p not in found]
            if not found:
                raise InputError(
                    f"{raw}: directory holds no model files (none of its {len(files)} file(s) is a "
                    f"pickle, joblib, PyTorch, numpy, Keras, skops, safetensors or ONNX file)"
                )
            out += [(str(Path(raw) / p.relative_to(path)), ctx.path(str(p.resolve()))) for p in found]
        else:
            out.append((raw, path))
    return out, skipped


def check(section: dict[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    options = ScanOptions(
        allowed=DEFAULT_ALLOWED + tuple(section.get("allowed_globals") or ()),
        max_bytes=int(section.get("max_mb", 4096)) << 20,
    )
    paths = section["paths"] if isinstance(section["paths"], list) else [section["paths"]]
    part = Part(CATEGORY)
    rows = []
    counts = {"dangerous": 0, "unknown": 0}
    files, skipped = expand(paths, ctx, options)
    for label, path in files:
        report = scan_artifact(path, options, label)
        status = status_of(report, levels)
        for hit in report.hits:
            finding = rule_finding(hit, CATEGORY, levels)
            if finding is not None:
                finding.message = f"{label}{' member ' + hit.subject if hit.subject else ''}: {hit.message}"
                part.findings.append(finding)
        dangerous = sorted({g.full for g in report.globals if g.safety == "dangerous"})
        unknown = sorted({g.full for g in report.globals if g.safety == "unknown"})
        counts["dangerous"] += len(dangerous)
        counts["unknown"] += len(unknown)
        if report.hits:
            shown = [h for h in report.hits if level_of(h.rule, levels) != "off"] or report.hits
            why = "; ".join(f"{h.subject + ': ' if h.subject else ''}{h.message}" for h in shown[:4])
            if len(shown) > 4:
                why += f" (and {len(shown) - 4} more)"
            why = f"{report.format}: {why}"
        else:
            why = (
                f"{report.format}: {len(report.globals)} imported name(s), all allowed"
                if report.globals
                else f"{report.format}: imports nothing"
            )
        part.checks.append(
            Check(
                name=f"artifact:{label}",
                status=status,
                value=len(dangerous) + len(unknown),
                why=why,
                threshold="no dangerous or unvetted imports",
                location=Location(str(path)),
                details={
                    "format": report.format,
                    "dangerous": dangerous,
                    "unknown": unknown,
                    "notes": report.notes,
                    "globals": [
                        {"name": g.full, "safety": g.safety, "member": g.member} for g in report.globals
                    ],
                },
            )
        )
        rows += [[label, g.member or "", g.full, g.safety] for g in report.globals if g.safety != "allowed"]
    if rows:
        part.tables["Model artifacts: dangerous and unvetted imports"] = markdown_table(
            ["file", "member", "global", "verdict"], rows
        )
    scanned = len(part.checks)
    if skipped:
        listed = ", ".join(skipped[:10]) + (f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else "")
        part.checks.append(
            Check(
                name="artifacts:skipped",
                status=Status.PASS,
                value=len(skipped),
                why=f"{len(skipped)} file(s) in the scanned directories are no model format (their bytes are not a "
                f"pickle or any format scanned here), so loading them as a model cannot run code: {listed}",
                details={"skipped": skipped},
            )
        )
        part.evidence["skipped"] = skipped
    part.summary = {"scanned": scanned, **counts, "skipped": len(skipped)}
    return part
