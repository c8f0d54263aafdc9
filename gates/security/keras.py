"""Keras model configs (config.json in a .keras zip, the model_config attribute of a legacy HDF5 file).

Keras runs code from a config in two ways: Lambda layers (and `__lambda__` objects) carry marshalled Python
bytecode, and any object whose `module` is not Keras's own is imported from that module when the model loads
(a `function` object names its function in `config`). The config is parsed as JSON, as Keras parses it, so
escapes and spacing cannot hide a Lambda; each imported name is judged like a pickle global.
"""

from __future__ import annotations

import io
import json
from typing import Any

from gates.security.artifact_report import ArtifactReport, ScanOptions

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_MODULES = ("keras", "tensorflow", "tf_keras")


def config_hits(report: ArtifactReport, config: Any, member: str | None, options: ScanOptions) -> None:
    """Lambda layers and imported custom objects anywhere in a parsed Keras config."""
    stack: list[tuple[Any, bool]] = [(config, False)]
    while stack:
        node, in_lambda = stack.pop()
        if isinstance(node, list):
            stack.extend((value, in_lambda) for value in node)
            continue
        if not isinstance(node, dict):
            continue
        cls, module, inner = node.get("class_name"), node.get("module"), node.get("config")
        if cls == "Lambda" or (cls == "__lambda__" and not in_lambda):
            name = inner.get("name") if isinstance(inner, dict) else None
            what = "Lambda layer" if cls == "Lambda" else "serialized lambda"
            report.hit(
                "artifact.keras-lambda",
                f"{what}{' ' + repr(name) if name else ''} holds serialized Python code",
                member,
            )
            in_lambda = True
        if isinstance(cls, str) and isinstance(module, str) and module.split(".")[0] not in _KERAS_MODULES:
            name = inner if cls == "function" and isinstance(inner, str) else cls
            report.add_global(module, name, options, member, None, "config imports")
        stack.extend((value, in_lambda) for value in node.values())


def scan_json(report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions) -> bool:
    """A JSON object member (Keras config.json and friends): checked as a Keras config."""
    if data[:4096].lstrip()[:1] != b"{":  # only the head: members can be gigabytes
        return False
    try:
        config = json.loads(data)
    except (ValueError, RecursionError):
        return False
    report.formats.append("json")
    config_hits(report, config, member, options)
    return True


def _has_superblock(data: bytes) -> bool:
    """HDF5 looks for its superblock at byte 0, 512, 1024, 2048, ... (a user block may precede it), so a file can
    begin as something else (a harmless pickle) and still be an HDF5 model to h5py and Keras."""
    offset = 0
    while offset + len(HDF5_MAGIC) <= len(data):
        if data.startswith(HDF5_MAGIC, offset):
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def scan_hdf5(report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions) -> bool:
    """Legacy Keras HDF5: the model_config attribute (h5py reads it, compressed or not; a byte search would not)."""
    if not _has_superblock(data):
        return False
    import h5py  # a declared dependency

    report.formats.append("hdf5")
    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            raw = handle.attrs.get("model_config")
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds on damaged files
        report.hit("artifact.unreadable", f"HDF5 file not readable: {exc}", member)
        return True
    if raw is None:
        report.notes.append(f"{member or 'HDF5'}: no Keras model config (weights only): no code")
        return True
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except (ValueError, RecursionError) as exc:
        report.hit("artifact.unreadable", f"model_config is not JSON: {exc}", member)
        return True
    report.formats.append("keras (HDF5)")
    config_hits(report, config, member or "model_config", options)
    return True
