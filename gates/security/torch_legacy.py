"""The two members of legacy torch's tar layout that interleave pickles with raw bytes: `storages`, `tensors`.

torch.load reads them by name (torch/serialization.py, legacy_load): `storages` is a pickled count, then per
storage a pickled (key, location, storage type) followed by an 8-byte element count and that many elements of
the type's size, then a pickled list of views; `tensors` is a pickled count, then per tensor a pickled
(key, storage id, type) followed by ndim (4 bytes), 4 bytes of padding, ndim sizes, ndim strides and an offset
(8 bytes each). Every one of those pickles is unpickled with the plain loader, so every one is scanned; a scan
that stops at the first raw block would miss all pickles behind it.
"""

from __future__ import annotations

import struct
from typing import Any

from gates.security.artifact_report import ArtifactReport, ScanOptions
from gates.security.pickle_walk import walk_one

LAYOUT_MEMBERS = ("storages", "tensors")

# Element size per legacy storage class (torch.<Kind>Storage), as torch._utils._element_size gives it
_ELEMENT_SIZE = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1,
    "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "QInt8": 1, "QUInt8": 1, "QInt32": 4, "QUInt4x2": 1,
}  # fmt: skip


class _Broken(ValueError):
    pass


def _element_size(storage_type: Any) -> int:
    module, name = getattr(storage_type, "_mlgate_global", ("?", "?"))
    kind = name.removesuffix("Storage")
    if module != "torch" or not name.endswith("Storage") or kind not in _ELEMENT_SIZE:
        raise _Broken(f"storage type {module}.{name} is not one of torch's legacy storage classes")
    return _ELEMENT_SIZE[kind]


def scan_layout_member(
    report: ArtifactReport, name: str, body: bytes, member: str, options: ScanOptions
) -> None:
    """Follow one `storages` or `tensors` member to its end and judge the globals of every pickle in it."""
    pos = 0

    def load() -> Any:
        nonlocal pos
        segment, value = walk_one(body, pos)
        for module, global_name, offset in segment.globals:
            report.add_global(module, global_name, options, member, offset, "imports")
        if segment.error:
            raise _Broken(f"pickle at byte {pos}: {segment.error}")
        pos = segment.end
        return value

    def raw(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(body):
            raise _Broken(f"ends inside the raw data at byte {pos}")
        pos += size
        return struct.unpack_from(fmt, body, pos - size)

    try:
        count = load()
        if type(count) is not int or not 0 <= count <= len(body):
            raise _Broken(f"count {count!r} is not a plausible number of entries")
        for _ in range(count):
            entry = load()
            if not isinstance(entry, tuple) or len(entry) != 3:
                raise _Broken(f"entry {entry!r} is not a 3-tuple")
            if name == "storages":
                (numel,) = raw("<q")
                if numel < 0 or pos + numel * _element_size(entry[2]) > len(body):
                    raise _Broken(f"storage of {numel} elements runs past the end")
                pos += numel * _element_size(entry[2])
            else:
                (ndim,) = raw("<i")
                if not 0 <= ndim <= 64:
                    raise _Broken(f"tensor with {ndim} dimensions")
                raw(f"<4x{2 * ndim}qq")
        if name == "storages":
            load()  # the storage views
    except _Broken as exc:
        report.hit("artifact.unreadable", f"legacy torch '{name}' member cannot be followed: {exc}", member)
