"""JUnit XML: one test case per check, so CI test views show each decision."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from gates.core.result import Check, GateResult, Status
from gates.formats import Output
from gates.formats.text import interval, number


def document(results: list[GateResult]) -> ET.ElementTree:
    root = ET.Element("testsuites", name="mlgate")
    for result in results:
        counts = result.counts()
        # A gate with no checks is an error (no evidence is never a pass); an empty suite would read as green.
        checks = result.checks or [Check("gate", Status.ERROR, "the gate made no checks: no evidence")]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=result.gate,
            tests=str(len(checks)),
            failures=str(counts["fail"]),
            errors=str(counts["error"] if result.checks else 1),
            skipped="0",
        )
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=f"mlgate.{result.gate}", name=check.name)
            if check.location:
                case.set("file", check.location.path)
                if check.location.line:
                    case.set("line", str(check.location.line))
            body = (
                f"value={number(check.value)} interval={interval(check) or '-'} "
                f"threshold={check.threshold or '-'}\n{check.why}"
            )
            if check.status is Status.FAIL:
                ET.SubElement(case, "failure", message=check.why, type="fail").text = body
            elif check.status is Status.ERROR:
                ET.SubElement(case, "error", message=check.why, type="error").text = body
            else:
                ET.SubElement(case, "system-out").text = f"{check.status.value}: {body}"
    return ET.ElementTree(root)


def write(results: list[GateResult], out: Output) -> list[Path]:
    path = out.report_dir / "junit.xml"
    tree = document(results)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return [path]
