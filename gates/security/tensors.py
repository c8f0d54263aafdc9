"""Formats that hold tensors and declared types but no code: safetensors, ONNX, skops.

They are recognised here so that a file in one of them is known, not merely "no pickle"; whether the same bytes
are also a pickle (a polyglot) is decided separately by the pickle readings, which run on every file.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

from gates.security.artifact_report import ArtifactReport, ScanOptions
from gates.security.containers import ZIP_ERRORS

# ONNX ModelProto top-level fields: number -> protobuf wire type
_ONNX_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}


def scan_safetensors(report: ArtifactReport, data: bytes, member: str | None) -> bool:
    """An 8-byte little-endian header size, then a JSON header of that size, then tensor bytes."""
    if len(data) < 10:
        return False
    size = struct.unpack("<Q", data[:8])[0]
    if size <= 0 or 8 + size > len(data) or data[8:9] != b"{":
        return False
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError):
        return False
    if not isinstance(header, dict):
        return False
    report.formats.append("safetensors")
    report.notes.append(f"{member or 'file'}: safetensors: tensors and a JSON header, no code")
    return True


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


def scan_onnx(report: ArtifactReport, data: bytes, member: str | None) -> bool:
    """ONNX: a protobuf ModelProto (IR version and a graph). Operators are data; loading runs no Python code."""
    fields = _onnx_fields(data)
    if not fields or not fields.get(7) or not all(1 <= v <= 64 for v in fields.get(1, [0])):
        return False
    report.formats.append("onnx")
    note = f"{member or 'file'}: onnx: a protobuf graph of operators, no Python code"
    if b"location" in data:
        note += "; tensors kept in external data files are not part of this scan"
    report.notes.append(note)
    return True


def scan_skops(report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions) -> bool:
    """skops: the types its schema would construct, as skops itself lists them, judged like pickle globals."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "schema.json" not in archive.namelist():
                return False
    except ZIP_ERRORS:
        return False
    try:
        from skops.io import get_untrusted_types
    except ImportError:
        report.hit(
            "artifact.unreadable", "skops file, but skops is not installed (pip install skops)", member
        )
        return True
    try:
        types = get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on damaged files
        report.hit("artifact.unreadable", f"skops could not read the file: {exc}", member)
        return True
    report.formats.append("skops")
    for full in types:
        module, _, name = full.rpartition(".")
        report.add_global(module, name, options, member or "schema.json", None, "untrusted type")
    report.notes.append(f"skops untrusted types: {', '.join(types) if types else 'none'}")
    return True
