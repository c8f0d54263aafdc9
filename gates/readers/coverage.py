"""Line coverage from Cobertura XML (coverage.py, Istanbul, JaCoCo converters), LCOV tracefiles (Istanbul/nyc,
c8, `coverage lcov`, genhtml inputs) and JaCoCo XML (Maven, Gradle): what Python, JavaScript and JVM services write.

The format is chosen by content, on positive evidence only: a <coverage> root is Cobertura, a <report> root
with JaCoCo <counter> elements is JaCoCo, a text file whose records start with `SF:` and end with
`end_of_record` is LCOV. Anything else is an InputError naming what was found, never a guess, because a wrong
reader would turn unreadable evidence into a number. Totals are recomputed from the per-line records where a
format has them (LCOV's LF/LH are summaries a tool may get wrong; JaCoCo's report-level LINE counter is used
because JaCoCo counts a line once across classes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.readers.junit import parse_xml

WORST_FILES = 5


@dataclass
class Coverage:
    line_rate: float  # 0..1
    lines_valid: int
    lines_covered: int
    branch_rate: float | None
    worst_files: list[tuple[str, float]]
    format: str = "cobertura"


def read_coverage(path: Path) -> Coverage:
    """Coverage from any supported format, chosen by the file's content."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a coverage report")
    with path.open("rb") as handle:
        head = handle.read(4096)
    text_head = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text_head.startswith(b"<"):
        root = parse_xml(path)
        if root.tag == "coverage":
            return _cobertura(root, path)
        if root.tag == "report" and root.find("counter") is not None:
            return _jacoco(root, path)
        raise InputError(
            f"{path}: expected a Cobertura <coverage> or JaCoCo <report> root with <counter> elements, "
            f"got <{root.tag}>"
        )
    return read_lcov(path)


def read_cobertura(path: Path) -> Coverage:
    root = parse_xml(path)
    if root.tag != "coverage":
        raise InputError(f"{path}: expected a Cobertura <coverage> root, got <{root.tag}>")
    return _cobertura(root, path)


def _rate(path: Path, element: Any, name: str, default: str | None = None) -> float | None:
    """A rate attribute in [0, 1], None when absent (and no default)."""
    raw = element.get(name, default)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{path}: <{element.tag}> attribute {name} is not a number: {raw!r}") from None
    if not 0 <= value <= 1:
        raise InputError(
            f"{path}: <{element.tag}> attribute {name}: expected a number in [0, 1], got {raw!r}"
        )
    return value


def _count(path: Path, element: Any, name: str) -> int:
    raw = element.get(name) or "0"
    if not raw.isdigit():
        raise InputError(f"{path}: <{element.tag}> attribute {name}: expected a count, got {raw!r}")
    return int(raw)


def _cobertura(root: Any, path: Path) -> Coverage:
    line_rate = _rate(path, root, "line-rate")
    if line_rate is None:
        raise InputError(f"{path}: <coverage> has no line-rate attribute")
    files = []
    for cls in root.iter("class"):
        rate = _rate(path, cls, "line-rate", "1")
        files.append((cls.get("filename", "?"), 1.0 if rate is None else rate))
    files.sort(key=lambda item: item[1])
    branches_valid = root.get("branches-valid")
    branch_rate = _rate(path, root, "branch-rate")
    if branches_valid == "0":  # coverage.py writes branch-rate="0" when branches were not measured
        branch_rate = None
    return Coverage(
        line_rate=line_rate,
        lines_valid=_count(path, root, "lines-valid"),
        lines_covered=_count(path, root, "lines-covered"),
        branch_rate=branch_rate,
        worst_files=files[:WORST_FILES],
        format="cobertura",
    )


def _jacoco(root: Any, path: Path) -> Coverage:
    def counter(element: Any, kind: str) -> tuple[int, int] | None:
        for item in element.findall("counter"):
            if item.get("type") == kind:
                return _count(path, item, "missed"), _count(path, item, "covered")
        return None

    lines = counter(root, "LINE")
    if lines is None:
        raise InputError(f"{path}: JaCoCo <report> has no LINE counter (was it built without debug info?)")
    missed, covered = lines
    if not missed + covered:
        raise InputError(f"{path}: JaCoCo LINE counter counts no lines: no coverage evidence")
    files = []
    for package in root.iter("package"):
        for source in package.findall("sourcefile"):
            per_file = counter(source, "LINE")
            if per_file and sum(per_file):
                name = f"{package.get('name', '')}/{source.get('name', '?')}".lstrip("/")
                files.append((name, per_file[1] / sum(per_file)))
    files.sort(key=lambda item: item[1])
    branches = counter(root, "BRANCH")
    return Coverage(
        line_rate=covered / (missed + covered),
        lines_valid=missed + covered,
        lines_covered=covered,
        branch_rate=branches[1] / sum(branches) if branches and sum(branches) else None,
        worst_files=files[:WORST_FILES],
        format="jacoco",
    )


def read_lcov(path: Path) -> Coverage:
    """An LCOV tracefile: per source file (SF:) its line hits (DA:line,hits) and branches (BRDA:...)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not a coverage report (not UTF-8 text: {exc.reason} at byte {exc.start})"
        ) from None
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    files: dict[str, dict[int, int]] = {}
    branches_found = branches_hit = 0
    current: dict[int, int] | None = None
    name = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("TN:", "#")):
            continue
        if current is None:
            if not line.startswith("SF:"):
                raise InputError(
                    f"{path}: line {number}: expected an LCOV record starting with 'SF:', got {line[:40]!r}"
                )
            name = line[3:]
            current = files.setdefault(name, {})
            continue
        if line == "end_of_record":
            current = None
            continue
        tag, _, value = line.partition(":")
        if tag == "DA":
            parts = value.split(",")
            if len(parts) < 2 or not parts[0].isdigit() or not _is_count(parts[1]):
                raise InputError(f"{path}: line {number}: expected 'DA:<line>,<hits>', got {line[:60]!r}")
            current[int(parts[0])] = current.get(int(parts[0]), 0) + int(float(parts[1]))
        elif tag == "BRDA":
            parts = value.split(",")
            if len(parts) < 4:
                raise InputError(
                    f"{path}: line {number}: expected 'BRDA:<line>,<block>,<branch>,<taken>', got {line[:60]!r}"
                )
            branches_found += 1
            branches_hit += parts[-1] not in ("-", "0")
    if current is not None:
        raise InputError(f"{path}: the record for {name!r} has no 'end_of_record' line (truncated file?)")
    valid = sum(len(hits) for hits in files.values())
    covered = sum(1 for hits in files.values() for h in hits.values() if h > 0)
    if not valid:
        raise InputError(f"{path}: no line records ('DA:<line>,<hits>'): no coverage evidence")
    worst = sorted(
        ((f, sum(1 for h in hits.values() if h > 0) / len(hits)) for f, hits in files.items() if hits),
        key=lambda item: item[1],
    )
    return Coverage(
        line_rate=covered / valid,
        lines_valid=valid,
        lines_covered=covered,
        branch_rate=branches_hit / branches_found if branches_found else None,
        worst_files=worst[:WORST_FILES],
        format="lcov",
    )


def _is_count(text: str) -> bool:
    """LCOV hit counts are integers; some tools (old Istanbul) write them as floats."""
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0
