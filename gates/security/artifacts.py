"""Model artifacts scanned before anything loads them: pickle, joblib, PyTorch, numpy, Keras, skops, safetensors, ONNX.

The format follows the loaders, not the file name or one magic number: the same bytes are offered to every
reading a loader could apply, and each reading that takes them is scanned.
- pickle readings run on every file and every archive member (pickle, pandas, numpy with allow_pickle, legacy
  torch and joblib all unpickle whatever they are given), so a file that is a valid safetensors header or ONNX
  protobuf and also a pickle is scanned as the pickle it also is;
- zip archives (wherever zipfile finds one), tar archives and compressed streams are opened and every member is
  scanned by content; numpy headers, HDF5, JSON configs, skops, safetensors and ONNX are recognised by structure.
Every global is judged by gates.security.verdict: exact names only, deny lists first. A file no reading takes is
an error, never a pass. `require_safe_artifact(path)` is what mlgate's own loaders call first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gates.core import progress
from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, Location, Status
from gates.core.settings.base import as_list
from gates.core.settings.security import Artifacts
from gates.security.artifact_report import ArtifactReport, ScanOptions
from gates.security.common import Part, markdown_table, rule_finding
from gates.security.containers import scan_compressed, scan_npy, scan_tar, scan_zip
from gates.security.keras import scan_hdf5, scan_json
from gates.security.pickle_scan import scan_pickle
from gates.security.pickle_walk import walk
from gates.security.rules import level_of
from gates.security.tensors import scan_onnx, scan_safetensors, scan_skops

CATEGORY = "artifacts"
_PROTOCOLS = tuple(bytes([n]) for n in range(2, 6))
_MAX_DEPTH = 4

MODEL_SUFFIXES = {
    ".pkl", ".pickle", ".joblib", ".jbl", ".pt", ".pth", ".bin", ".ckpt", ".npy", ".npz", ".keras", ".h5",
    ".hdf5", ".skops", ".safetensors", ".sav", ".dat", ".z", ".gz", ".bz2", ".xz", ".lzma", ".onnx", ".model",
    ".zip", ".tar",
}  # fmt: skip


def scan_content(
    report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions, depth: int
) -> bool:
    """Offer `data` to every reading; True when at least one takes it. Readings do not exclude each other."""
    if depth > _MAX_DEPTH:
        report.hit("artifact.unreadable", f"archives nested more than {_MAX_DEPTH} deep", member)
        return True
    taken = scan_pickle(report, data, member, options)
    if scan_zip(report, data, member, options, depth, scan_content):
        taken = True
        scan_skops(report, data, member, options)
    for reader in (scan_tar, scan_compressed, scan_npy):
        taken = reader(report, data, member, options, depth, scan_content) or taken
    taken = scan_hdf5(report, data, member, options) or taken
    taken = scan_json(report, data, member, options) or taken
    return scan_safetensors(report, data, member) or scan_onnx(report, data, member) or taken


def scan_artifact(path: Path, options: ScanOptions | None = None) -> ArtifactReport:
    """Scan one file without loading it."""
    options = options or ScanOptions()
    report = ArtifactReport(path=str(path))
    try:
        size = path.stat().st_size
        if size > options.max_bytes:
            report.hit(
                "artifact.unreadable",
                f"{size >> 20} MiB is over the {options.max_bytes >> 20} MiB limit (security.artifacts.max_mb)",
            )
            return report
        data = path.read_bytes()
    except OSError as exc:
        report.hit("artifact.unreadable", f"cannot read: {exc.strerror or exc}")
        return report
    if not data:
        report.hit("artifact.unreadable", "empty file")
        return report
    taken = scan_content(report, data, None, options, 0)
    if taken and report.formats != ["json"] and not set(report.formats) <= {"zip", "tar"}:
        return report  # a lone JSON file, or an archive of members no loader reads as a model, is no model
    report.formats.clear()
    if data[:1] == b"\x80" and data[1:2] in _PROTOCOLS:
        report.hit("artifact.unreadable", f"a pickle that breaks off before it ends: {walk(data).tail_error}")
    else:
        report.hit(
            "artifact.unknown-format",
            f"not a pickle, joblib, PyTorch, numpy, Keras, skops, safetensors or ONNX file "
            f"(starts with {data[:8]!r})",
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

    `allowed_globals` adds exact trusted names (MODULE.NAME or MODULE:QUAL.NAME) to the default list, as
    `--allow-global` and `security.artifacts.allowed_globals` do.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model artifact not found")
    report = scan_artifact(path, ScanOptions.from_entries(tuple(allowed_globals)))
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


def may_be_model(path: Path, options: ScanOptions | None = None) -> bool:
    """Whether a file could be loaded as a model, judged by its bytes, not its name: some reading other than
    plain JSON takes it (a pickle, even protocol 0 without a signature, an archive, a tensor format), or the
    scan has something to say about it."""
    options = options or ScanOptions()
    try:
        if path.stat().st_size == 0:
            return False  # no loader reads a model from an empty file
    except OSError:
        return True  # scan_artifact reports why it cannot be read
    report = scan_artifact(path, options)
    return bool(set(report.formats) - {"json"}) or any(
        h.rule != "artifact.unknown-format" for h in report.hits
    )


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


def check(section: Artifacts | Mapping[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    settings = Artifacts.parse(section, "security.artifacts")
    options = ScanOptions.from_entries(tuple(settings.allowed_globals), max_bytes=settings.max_mb << 20)
    paths = as_list(settings.paths)
    part = Part(CATEGORY)
    rows = []
    counts = {"dangerous": 0, "unknown": 0}
    files, skipped = expand(paths, ctx, options)
    for label, path in progress.each(files, "scanning models", "files", note=lambda item: item[0]):
        report = scan_artifact(path, options)
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
