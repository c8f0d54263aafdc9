"""Model-artifact scanners side by side on mlgate's hostile corpus (tests/security/corpus.py).

Builds the corpus into a temporary directory, proves every hostile payload runs under its loader, then asks
each scanner about each file: mlgate (gates.security.artifacts), picklescan (scan_file_path), modelscan
(ModelScan().scan) and fickling (is_likely_safe). Each answer is one of
- flagged: the scanner says the file is unsafe;
- error:   the scanner could not scan the file (an error, a skip, an unsupported format);
- clean:   the scanner says nothing is wrong.
A hostile file that comes back "clean" is a miss (the worst outcome); "error" is safe only where the pipeline
treats a scanner error as a failure. A benign file that is flagged or errors is a false alarm.

    python bench/model_scanners.py        # writes bench/results/model_scanners.{md,json}
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gates.core.result import Status
from gates.security.artifacts import scan_artifact, status_of
from tests.security.corpus import CASES, build, prove

RESULTS = REPO / "bench" / "results"


def _mlgate(path: Path) -> str:
    status = status_of(scan_artifact(path), {})
    return {Status.FAIL: "flagged", Status.ERROR: "error"}.get(status, "clean")


def _picklescan(path: Path) -> str:
    from picklescan.scanner import scan_file_path

    result = scan_file_path(str(path))
    if result.issues_count:
        return "flagged"
    return "error" if result.scan_err or not result.scanned_files else "clean"


def _modelscan(path: Path) -> str:
    from modelscan.modelscan import ModelScan

    result = ModelScan().scan(str(path))
    if result["issues"]:
        return "flagged"
    scanned = result["summary"].get("scanned", {}).get("total_scanned", 0)
    return "error" if result["errors"] or not scanned else "clean"


def _fickling(path: Path) -> str:
    import fickling

    try:
        return "clean" if fickling.is_likely_safe(str(path)) else "flagged"
    except Exception:  # noqa: BLE001 - any failure of the scanner is its answer "error"
        return "error"


SCANNERS: dict[str, Callable[[Path], str]] = {
    "mlgate": _mlgate,
    "picklescan": _picklescan,
    "modelscan": _modelscan,
    "fickling": _fickling,
}


def _quiet(scan: Callable[[Path], str], path: Path) -> str:
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return scan(path)
    except Exception:  # noqa: BLE001 - a crash is the scanner's answer "error"
        return "error"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlgate-corpus-") as tmp:
        directory = Path(tmp)
        for case in CASES:
            path = build(case, directory)
            proven = prove(case, path) if case.hostile else None
            answers = {name: _quiet(scan, path) for name, scan in SCANNERS.items()}
            rows.append({"case": case.name, "hostile": case.hostile, "what": case.what, "loader": case.loader,
                         "proven": proven, **answers})  # fmt: skip
    totals = {}
    for name in SCANNERS:
        hostile = [r[name] for r in rows if r["hostile"] and r["proven"]]
        benign = [r[name] for r in rows if not r["hostile"]]
        totals[name] = {
            "hostile": len(hostile),
            "flagged": hostile.count("flagged"),
            "error": hostile.count("error"),
            "missed": hostile.count("clean"),
            "benign": len(benign),
            "false_alarms": len(benign) - benign.count("clean"),
        }
    versions = {
        name: _version(name) for name in ("picklescan", "modelscan", "fickling", "numpy", "joblib", "torch")
    }
    lines = [
        "# Model scanners on mlgate's hostile corpus",
        "",
        f"`python bench/model_scanners.py`; Python {platform.python_version()}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        (
            "Hostile cases count only when their payload ran under the loader they target (a marker file in a "
            "sandboxed interpreter). flagged = reported unsafe, error = could not scan, missed = said clean."
        ),
        "",
        "| scanner | hostile flagged | hostile error | hostile missed | benign false alarms |",
        "|---|---|---|---|---|",
    ]
    for name, t in totals.items():
        lines.append(
            f"| {name} | {t['flagged']}/{t['hostile']} | {t['error']} | {t['missed']} | "
            f"{t['false_alarms']}/{t['benign']} |"
        )
    lines += ["", "| case | kind | target loader | proven | " + " | ".join(SCANNERS) + " |",
              "|---|---|---|---|" + "---|" * len(SCANNERS)]  # fmt: skip
    for r in rows:
        kind = "hostile" if r["hostile"] else "benign"
        lines.append(
            f"| {r['case']} ({r['what']}) | {kind} | {r['loader']} | {r['proven'] if r['hostile'] else ''} | "
            + " | ".join(r[name] for name in SCANNERS)
            + " |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "model_scanners.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "model_scanners.json").write_text(
        json.dumps({"versions": versions, "totals": totals, "rows": rows}, indent=1) + "\n", encoding="utf-8"
    )
    print("\n".join(lines[: 10 + len(SCANNERS)]))


if __name__ == "__main__":
    main()
