"""Scan bytes as every pickle-based loader would read them, with picklescan as a second opinion.

Two readings (gates.security.pickle_walk): plain (pickle, pandas, numpy with allow_pickle, legacy torch) and, when
the stream holds joblib array wrappers, joblib's. Every global either reading meets is judged. A reading that
imports something and then breaks off is an error, with one expected exception: the plain reading of a real joblib
file stops at the first array's raw bytes, which is what pickle.load does there too, provided the joblib reading
of the same bytes goes through to the end; names that this misaligned reading makes up from array data and that
name no module at all are noted, not judged (the loader would stop at them). picklescan then reads every pickle the walker found (joblib's raw
array bytes cut out); if it cannot, the result is an error, never "the walker alone".
"""

from __future__ import annotations

import _compat_pickle
import io

from gates.security.artifact_report import ArtifactReport, ScanOptions
from gates.security.names import origins
from gates.security.pickle_walk import JOBLIB_WRAPPER, Walk, walk


def scan_pickle(report: ArtifactReport, data: bytes, member: str | None, options: ScanOptions) -> bool:
    """Judge every global the pickle readings of `data` meet; False when no loader would read it as a pickle."""
    plain = walk(data)
    readings = [("pickle", plain)]
    if any((m, n) == JOBLIB_WRAPPER for m, n, _ in plain.globals):
        readings.append(("joblib", walk(data, joblib=True)))
    if not any(r.globals or r.pickles for _, r in readings):
        return False
    joblib_ok = len(readings) == 2 and readings[1][1].error is None
    report.formats.append("pickle (joblib)" if joblib_ok else "pickle")
    misread = set(plain.after_wrapper()) if joblib_ok else set()
    for _, reading in readings:
        for module, name, offset in reading.globals:
            if (module, name, offset) in misread and origins(module, name.partition(".")[0])[
                0
            ].kind == "missing":
                report.notes.append(
                    f"{member or 'stream'}: read as plain pickle opcodes, joblib's array data would import "
                    f"{module}.{name}, which does not exist: that loader stops there"
                )
                continue
            report.add_global(module, name, options, member, offset, "imports")
    for kind, reading in readings:
        if reading.error and not (kind == "pickle" and reading.error_after_wrapper and joblib_ok):
            report.hit(
                "artifact.unreadable",
                f"the {kind} reading breaks off after an import, so what a loader does next is unknown: "
                f"{reading.error}",
                member,
            )
    if joblib_ok:
        report.notes.append(
            f"{readings[1][1].joblib_arrays} joblib array(s) stepped over as joblib reads them"
        )
    complete = readings[1][1] if joblib_ok else plain
    if not complete.error:
        _second_opinion(report, data, complete, member)
    return True


def _second_opinion(report: ArtifactReport, data: bytes, reading: Walk, member: str | None) -> None:
    """picklescan on each pickle the walker read; its failure to read one makes the scan an error."""
    from picklescan.scanner import scan_pickle_bytes

    seen = {(m, n) for m, n, _ in reading.globals}
    for segment in reading.segments:
        if not segment.globals:
            continue  # a pickle without imports cannot run code; picklescan has nothing to add
        try:
            result = scan_pickle_bytes(io.BytesIO(segment.opcodes(data)), report.path, multiple_pickles=False)
            failed = result.scan_err
        except Exception:  # noqa: BLE001 - any failure of the second opinion is the same finding
            failed, result = True, None
        if failed or result is None:
            report.hit(
                "artifact.unreadable",
                f"picklescan (second opinion) cannot read the pickle at byte {segment.start}",
                member,
            )
            continue
        for ref in result.globals:
            mapped = _compat_pickle.NAME_MAPPING.get((ref.module, ref.name))
            module, name = mapped or (_compat_pickle.IMPORT_MAPPING.get(ref.module, ref.module), ref.name)
            if (module, name) not in seen and ref.safety.value == "dangerous":
                report.hit(
                    "artifact.dangerous-global",
                    f"picklescan sees {ref.module}.{ref.name}, which the walker did not meet",
                    member,
                    **{"global": f"{ref.module}.{ref.name}"},
                )
