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

from gates.context import GateContext
from gates.errors import InputError
from gates.result import Check, Location, Status
from gates.security.common import Part, RuleHit, markdown_table, rule_finding
from gates.security.pickle_walk import walk
from gates.security.rules import level_of

CATEGORY = "artifacts"

MODEL_SUFFIXES = {".pkl", ".pickle", ".joblib", ".jbl", ".pt", ".pth", ".bin", ".ckpt", ".npy", ".npz", ".keras",
                  ".h5", ".hdf5", ".skops", ".safetensors", ".sav", ".dat", ".z", ".gz", ".bz2", ".xz", ".lzma"}

DEFAULT_ALLOWED = (
    "sklearn",
    "numpy.dtype", "numpy.ndarray", "numpy.dtypes", "numpy.random._pickle",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer", "numpy.ma.core._mareconstruct",
    "scipy.sparse", "joblib.numpy_pickle.NumpyArrayWrapper",
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "_codecs.encode",
    "copyreg._reconstructor", "builtins.object", "builtins.set", "builtins.frozenset", "builtins.slice",
    "builtins.range", "builtins.complex", "builtins.bytearray", "builtins.bytes", "builtins.dict",
    "builtins.list", "builtins.tuple", "builtins.int", "builtins.float", "builtins.str", "builtins.bool",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "decimal.Decimal",
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch._utils._rebuild_tensor",
    "torch.Size", "torch.device", "torch.float32", "torch.float16", "torch.bfloat16", "torch.float64",
    "torch.int64", "torch.int32", "torch.int8", "torch.uint8", "torch.bool",
    *(f"torch.{kind}Storage" for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char",
                                          "Byte", "Bool", "ComplexFloat", "ComplexDouble")),
)

# Dangerous in addition to picklescan's list: ways to import, to run code, or to load a second, unscanned file.
_EXTRA_DANGEROUS = (
    "builtins.__import__", "builtins.globals", "builtins.locals", "builtins.vars", "builtins.setattr",
    "builtins.delattr", "builtins.input", "builtins.print", "importlib", "marshal", "io.open", "io.FileIO",
    "codecs.open", "tempfile", "inspect", "multiprocessing", "_thread", "threading", "signal", "site", "zipimport",
    "codeop", "code", "dill", "cloudpickle", "pandas.read_pickle", "pandas.io.pickle", "numpy.load",
    "numpy.lib.npyio", "numpy.fromfile", "joblib.load", "joblib.numpy_pickle.load", "torch.load",
    "torch.storage._load_from_bytes", "keras.models.load_model", "sklearn.datasets", "sklearn.utils._testing",
    "sklearn.externals", "copyreg.add_extension", "builtins.type",
)


def _under(full: str, names: Iterable[str]) -> str | None:
    for name in names:
        if full == name or full.startswith(name + "."):
            return name
    return None


@functools.lru_cache(maxsize=4096)
def _picklescan_safety(module: str, name: str) -> str:
    """Ask picklescan (through its public API) how it rates one global: innocuous, suspicious or dangerous."""
    from picklescan.scanner import scan_pickle_bytes

    def text(s: str) -> bytes:
        data = s.encode("utf-8", "surrogatepass")
        return b"\x8c" + bytes([len(data)]) + data if len(data) < 256 else b"X" + struct.pack("<I", len(data)) + data

    probe = b"\x80\x04" + text(module) + text(name) + b"\x93."
    result = scan_pickle_bytes(io.BytesIO(probe), "probe")
    return result.globals[0].safety.value if result.globals else "dangerous"


def classify(module: str, name: str, allowed: tuple[str, ...]) -> str:
    """dangerous, allowed or unknown; the deny lists win over the allow list."""
    full = f"{module}.{name}"
    if _under(full, _EXTRA_DANGEROUS) or _picklescan_safety(module, name) == "dangerous":
        return "dangerous"
    if _under(full, allowed):
        return "allowed"
    return "unknown"


@dataclass
class GlobalRef:
    module: str
    name: str
    safety: str
    member: str | None = None  # archive member (zip) or part of the stream
    offset: int | None = None

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

_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x5d\x00\x00", "lzma"),
               (b"\x04\x22\x4d\x18", "lz4"))
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
        try:
            import lz4.frame  # type: ignore[import-not-found]
        except ImportError:
            raise ValueError("lz4-compressed: install lz4 to scan it") from None
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
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head[:1] in (b"(", b"c", b"}", b"]",
                                                                                      b"I", b"N", b"S", b"V", b"\x80")


def scan_pickle_stream(report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions,
                       stop_after: int | None = None) -> bool:
    """Walk one pickle stream (with picklescan as a second opinion); False when it is no pickle at all."""
    walked = walk(io.BytesIO(data), stop_after=stop_after)
    if walked.pickles == 0 and not walked.globals and not (data[:1] == b"\x80" and data[1:2] in _PROTOCOLS):
        return False
    if stop_after is None and walked.values and isinstance(walked.values[0], int) \
            and walked.values[0] == _TORCH_LEGACY_MAGIC:
        walked = walk(io.BytesIO(data), stop_after=5)  # legacy torch.save: 5 pickles, then raw storages
        report.format = "pytorch (legacy)"
    seen = {(m, n) for m, n, _ in walked.globals}
    found = [(m, n, off) for m, n, off in walked.globals]
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
        ref = GlobalRef(module, name, classify(module, name, options.allowed), member, offset)
        report.globals.append(ref)
        if ref.safety == "dangerous":
            report.hit("artifact.dangerous-global", f"imports {ref.full}, which can run code when loaded",
                       member, **{"global": ref.full})
        elif ref.safety == "unknown":
            report.hit("artifact.unknown-global", f"imports {ref.full}, which is not in the allow list",
                       member, **{"global": ref.full})
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
        report.notes.append(f"{member or 'array'}: object array {shape}: a pickle, loadable only with allow_pickle")
        if not scan_pickle_stream(report, data[handle.tell():], member, options):
            report.hit("artifact.unreadable", "object array whose data is not a pickle", member)


def _keras_config_hits(report: ArtifactReport, config: Any, member: str, options: ScanOptions) -> None:
    """Lambda layers carry marshalled Python bytecode; custom objects name a module that would be imported."""
    stack: list[tuple[Any, bool]] = [(config, False)]
    while stack:
        node, in_lambda = stack.pop()
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls == "Lambda" or (cls == "__lambda__" and not in_lambda):
                name = (node.get("config") or {}).get("name") if isinstance(node.get("config"), dict) else None
                what = "Lambda layer" if cls == "Lambda" else "serialized lambda"
                report.hit("artifact.keras-lambda", f"{what}{' ' + repr(name) if name else ''} holds "
                           f"serialized Python code", member)
                in_lambda = True
            module = node.get("module")
            if isinstance(cls, str) and isinstance(module, str) and not module.startswith(("keras", "tensorflow")) \
                    and module not in ("builtins",):
                full = f"{module}.{node.get('registered_name') or cls}"
                safety = "allowed" if _under(full, options.allowed) else "unknown"
                report.globals.append(GlobalRef(module, str(node.get("registered_name") or cls), safety, member))
                if safety == "unknown":
                    report.hit("artifact.unknown-global", f"custom object {full} would be imported", member,
                               **{"global": full})
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
    if "schema.json" in names and (suffix == ".skops" or any(n.endswith(".npy") for n in names) or len(names) == 1):
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
        elif member_suffix in (".pkl", ".pickle") or (body[:1] == b"\x80" and 2 <= body[1:2][0] <= 5
                                                      if len(body) > 1 else False):
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
        ref = GlobalRef(module, name, classify(module, name, options.allowed), "schema.json")
        report.globals.append(ref)
        if ref.safety == "dangerous":
            report.hit("artifact.dangerous-global", f"untrusted type {full} can run code when loaded",
                       "schema.json", **{"global": full})
        elif ref.safety == "unknown":
            report.hit("artifact.unknown-global", f"untrusted type {full} is not in the allow list",
                       "schema.json", **{"global": full})
    report.notes.append(f"skops untrusted types: {', '.join(types) if types else 'none'}")


def _scan_hdf5(report: ArtifactReport, path: Path, options: ScanOptions) -> None:
    report.format = "keras (HDF5)"
    try:
        import h5py  # type: ignore[import-not-found]
    except ImportError:
        h5py = None
    if h5py is not None:
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
        return
    # Without h5py: attributes are stored uncompressed, so the model config's JSON is in the bytes as written.
    import mmap
    import re

    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        if view.find(b"model_config") < 0:
            report.notes.append("HDF5 without a Keras model config (weights only): no code")
            return
        for match in re.finditer(rb'"class_name":\s*"(Lambda|__lambda__)"', view):
            report.hit("artifact.keras-lambda", f"Lambda layer in model_config at byte {match.start()} holds "
                       f"serialized Python code", "model_config")
        report.notes.append("HDF5 scanned by byte search for Lambda layers (install h5py for a full parse)")


def _scan_safetensors(report: ArtifactReport, data: bytes) -> bool:
    if len(data) < 10:
        return False
    size = struct.unpack("<Q", data[:8])[0]
    if size <= 0 or 8 + size > len(data) or data[8:9] != b"{":
        return False
    try:
        json.loads(data[8:8 + size])
    except ValueError:
        return False
    report.format = "safetensors"
    report.notes.append("safetensors: tensors and a JSON header, no code")
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
            report.hit("artifact.unreadable", f"{size >> 20} MiB is over the {options.max_bytes >> 20} MiB limit "
                       f"(security.artifacts.max_mb)")
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
    compression = "zlib" if data[:1] == b"\x78" and (data[0] * 256 + data[1]) % 31 == 0 else \
        next((kind for magic, kind in _COMPRESSED if data.startswith(magic)), None)
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
    report.format = "unknown"
    report.hit("artifact.unknown-format", f"not a pickle, joblib, PyTorch, numpy, Keras, skops or safetensors file "
               f"(starts with {data[:8]!r})")
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

    `allowed_globals` adds trusted names to the default allow list (module or module.name prefixes), as
    `security.artifacts.allowed_globals` does in the policy.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model artifact not found")
    report = scan_artifact(path, ScanOptions(allowed=DEFAULT_ALLOWED + tuple(allowed_globals)))
    if report.hits:
        first = report.hits[0]
        where = f" ({first.subject})" if first.subject else ""
        more = f" (and {len(report.hits) - 1} more problem{'s' if len(report.hits) > 2 else ''})" \
            if len(report.hits) > 1 else ""
        raise InputError(f"{path}: refused to load this model artifact: {first.message}{where}{more}; "
                         f"see `mlgate security --artifacts {path}`")


def expand(paths: list[str], ctx: GateContext) -> list[tuple[str, Path]]:
    """Files as given, directories searched for model files by suffix, globs expanded against the policy folder."""
    out: list[tuple[str, Path]] = []
    for raw in paths:
        if any(ch in raw for ch in "*?["):
            matches = sorted(ctx.base_dir.glob(raw)) if not Path(raw).is_absolute() else \
                sorted(Path("/").glob(raw.lstrip("/")))
            if not matches:
                raise InputError(f"{raw}: no model artifact matches this pattern")
            out += [(str(m), ctx.path(str(m.resolve()))) for m in matches if m.is_file()]
            continue
        path = ctx.path(raw, what="model artifact")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES)
            if not found:
                raise InputError(f"{raw}: directory holds no model files ({', '.join(sorted(MODEL_SUFFIXES))})")
            out += [(str(Path(raw) / p.relative_to(path)), ctx.path(str(p.resolve()))) for p in found]
        else:
            out.append((raw, path))
    return out


def check(section: dict[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    options = ScanOptions(allowed=DEFAULT_ALLOWED + tuple(section.get("allowed_globals") or ()),
                          max_bytes=int(section.get("max_mb", 4096)) << 20)
    paths = section["paths"] if isinstance(section["paths"], list) else [section["paths"]]
    part = Part(CATEGORY)
    rows = []
    counts = {"dangerous": 0, "unknown": 0}
    for label, path in expand(paths, ctx):
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
            why = f"{report.format}: {len(report.globals)} imported name(s), all allowed" if report.globals \
                else f"{report.format}: imports nothing"
        part.checks.append(Check(
            name=f"artifact:{label}", status=status, value=len(dangerous) + len(unknown), why=why,
            threshold="no dangerous or unvetted imports", location=Location(str(path)),
            details={"format": report.format, "dangerous": dangerous, "unknown": unknown, "notes": report.notes,
                     "globals": [{"name": g.full, "safety": g.safety, "member": g.member} for g in report.globals]}))
        rows += [[label, g.member or "", g.full, g.safety] for g in report.globals if g.safety != "allowed"]
    if rows:
        part.tables["Model artifacts: dangerous and unvetted imports"] = markdown_table(
            ["file", "member", "global", "verdict"], rows)
    part.summary = {"scanned": len(part.checks), **counts}
    return part
