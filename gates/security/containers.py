"""Files that hold other files: zip (PyTorch, numpy .npz, Keras, skops, pandas .zip), tar (legacy PyTorch,
pandas .tar), compressed streams (joblib, pandas) and numpy .npy headers.

Every member is scanned by its content, never by its name: which loader reads a member is decided by the loader,
so an .npz with a config.json is still read member by member, and a member called weights.bin is still a pickle
if it is one. Zip archives with two members of the same name are refused: zip readers differ on which copy they
return (Python's zipfile the last, readers that stop at the first match the first), so no single reading tells
what a loader gets; every copy is still scanned.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

from gates.security.artifact_report import ArtifactReport, ScanOptions
from gates.security.torch_legacy import LAYOUT_MEMBERS, scan_layout_member

# (report, bytes, member label, options, depth) -> whether any reading took the bytes
ScanFn = Callable[[ArtifactReport, bytes, str | None, ScanOptions, int], bool]

_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
NUMPY_MAGIC = b"\x93NUMPY"
# What zipfile raises on damaged archives and members
ZIP_ERRORS = (
    zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError, OSError, EOFError, zlib.error, lzma.LZMAError,
)  # fmt: skip
_MAX_MEMBERS = 10_000


def _label(parent: str | None, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def compression_of(data: bytes) -> str | None:
    """The compressor joblib would pick for these bytes (joblib decides by the same leading bytes)."""
    if data[:1] == b"\x78" and len(data) > 1 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return next((kind for magic, kind in _COMPRESSED if data.startswith(magic)), None)


def _decompressor(kind: str) -> Any:
    """A fresh incremental decompressor for `kind` (all share decompress(data, max_length))."""
    if kind in ("zlib", "gzip"):
        return zlib.decompressobj(31 if kind == "gzip" else 15)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind in ("xz", "lzma"):
        return lzma.LZMADecompressor()
    import lz4.frame  # a declared dependency, imported only for the joblib files that need it

    return lz4.frame.LZ4FrameDecompressor()


def decompress(data: bytes, kind: str, limit: int) -> bytes:
    if kind == "gzip":  # GzipFile, as joblib: it reads concatenated members, a single decompressobj does not
        out = gzip.GzipFile(fileobj=io.BytesIO(data)).read(limit + 1)
    else:
        out = _decompressor(kind).decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"decompresses to more than {limit >> 20} MiB (security.artifacts.max_mb)")
    return out


def _refused_before_output(data: bytes, kind: str, window: int = 4096) -> bool:
    """Whether the decompressor refuses the stream before giving out a single byte (fed byte by byte).

    Then a loader reads nothing from it and runs nothing, so this reading simply does not take the file: a
    safetensors file whose header length is 93 starts like an lzma stream (5d 00 00). A stream that gave out
    bytes first, or is not refused within `window` bytes, stays unreadable: a loader unpickles while it
    decompresses, so what came out before the damage was read."""
    decompressor = _decompressor(kind)
    try:
        for index in range(min(len(data), window)):
            if decompressor.decompress(data[index : index + 1]):
                return False
    except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, RuntimeError):
        return True
    return False


def scan_compressed(
    report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions, depth: int, scan: ScanFn
) -> bool:
    kind = compression_of(data)
    if kind is None:
        return False
    label = _label(member, f"{kind} stream")
    try:
        inner = decompress(data, kind, options.max_bytes)
    except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, RuntimeError) as exc:
        if _refused_before_output(data, kind):
            return False
        report.hit("artifact.unreadable", f"{kind}-compressed stream not readable: {exc}", member)
        return True
    report.formats.append(f"{kind}-compressed")
    if not scan(report, inner, label, options, depth + 1):
        report.hit("artifact.unknown-format", f"{kind}-compressed stream holds no known model format", label)
    return True


def scan_zip(
    report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions, depth: int, scan: ScanFn
) -> bool:
    """Every member of a zip archive, wherever zipfile finds the archive (its directory sits at the end)."""
    starts_as_zip = data.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    if not starts_as_zip and b"PK\x05\x06" not in data[-(1 << 16) - 22 :]:
        return False
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except ZIP_ERRORS as exc:
        if starts_as_zip:
            report.hit("artifact.unreadable", f"damaged zip archive: {exc}", member)
        return starts_as_zip
    report.formats.append("zip")
    names = [info.filename for info in infos]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        report.hit(
            "artifact.unreadable",
            f"zip archive names {', '.join(duplicates[:5])} more than once: zip readers differ on which copy "
            f"they return (Python's zipfile the last, a reader that stops at the first match the first)",
            member,
        )
    if len(infos) > _MAX_MEMBERS:
        report.hit("artifact.unreadable", f"zip archive with more than {_MAX_MEMBERS} members", member)
        return True
    for index, info in enumerate(infos):
        if info.filename.endswith("/"):  # a directory entry (is_dir() fails on an empty name)
            continue
        label = _label(member, info.filename)
        try:
            if info.file_size > options.max_bytes:
                raise ValueError(f"member larger than {options.max_bytes >> 20} MiB")
            body = archive.open(info).read(options.max_bytes + 1)
        except ZIP_ERRORS as exc:
            report.hit("artifact.unreadable", f"cannot read member {index}: {exc}", label)
            continue
        scan(report, body, label, options, depth + 1)
    return True


def scan_tar(
    report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions, depth: int, scan: ScanFn
) -> bool:
    """Every regular member of a tar archive (legacy torch.save, pandas .tar)."""
    if len(data) < 512:
        return False
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            members = []
            for info in archive.getmembers()[:_MAX_MEMBERS]:
                handle = archive.extractfile(info) if info.isfile() else None
                if handle is not None:
                    members.append((info.name, handle.read(options.max_bytes + 1)))
            count = len(archive.getmembers())
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        if data[257:262] == b"ustar":
            report.hit("artifact.unreadable", f"damaged tar archive: {exc}", member)
            return True
        return False  # tarfile does not take these bytes for a tar archive, so no loader does
    report.formats.append("tar")
    for name, body in members:
        scan(report, body, _label(member, name), options, depth + 1)
        if name in LAYOUT_MEMBERS:  # torch.load reads these two by name, pickles between raw blocks
            scan_layout_member(report, name, body, _label(member, name), options)
    if count > _MAX_MEMBERS:
        report.hit("artifact.unreadable", f"tar archive with more than {_MAX_MEMBERS} members", member)
    return True


def scan_npy(
    report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions, depth: int, scan: ScanFn
) -> bool:
    """A .npy header; an object array's data is a pickle (numpy.load with allow_pickle unpickles it)."""
    if not data.startswith(NUMPY_MAGIC):
        return False
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
        return True
    report.formats.append("numpy (.npy)")
    if dtype.hasobject:
        label = _label(member, "object array data")
        report.notes.append(f"{member or 'array'}: object array {shape}: a pickle, loaded with allow_pickle")
        if not scan(report, data[handle.tell() :], label, options, depth + 1):
            report.hit("artifact.unreadable", "object array whose data is not a pickle", label)
    return True
