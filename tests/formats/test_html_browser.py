"""The HTML report in a real browser (Debian's chromium driven by Playwright): the example's run plus a canary that
rolled back. It loads with no console error and no request, every gate's section and chart renders, tables sort
and filter, dark mode and print styles apply."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gates.core.result import error_result
from gates.formats import figures, html
from tests.conftest import clean_environ

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MLGATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
if not Path(CHROMIUM).exists():
    pytest.skip(f"needs chromium ({CHROMIUM} not found; set MLGATE_CHROMIUM)", allow_module_level=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    """`mlgate run` on the bundled example, then the page for its JSON report plus a rolled-back canary."""
    from tests.formats.canary_runs import canary_result

    out = tmp_path_factory.mktemp("html")
    completed = subprocess.run(
        [sys.executable, "-m", "gates.cli", "--policy", str(REPO / "examples" / "gates.yml")]
        + ["--report-dir", str(out / "reports"), "--no-audit", "run"],
        cwd=out,
        capture_output=True,
        text=True,
        env=clean_environ({"MLGATE_PROGRESS": "off"}),
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads((out / "reports" / "mlgate.json").read_text(encoding="utf-8"))
    document["gates"].append(json.loads(json.dumps(canary_result(regressed=True).to_dict())))
    unreadable = error_result("coverage", "coverage.xml: not Cobertura, LCOV or JaCoCo (line 1)", 2)
    document["gates"].append(unreadable.to_dict())  # a gate without evidence: one error check
    document["status"], document["exit_code"] = "error", 2
    page = out / "report.html"
    page.write_text(html.render_document(document), encoding="utf-8")
    return page, document


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser, path: Path, scheme: str = "light"):
    """The page, with every console error, page error and network request recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page.problems = []
    page.requests = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def test_loads_without_errors_or_requests_and_every_section_renders(browser, report):
    path, document = report
    page = open_page(browser, path)
    try:
        assert page.problems == []
        assert page.requests == [path.as_uri()]  # self-contained: nothing fetched
        gates = [g["gate"] for g in document["gates"]]
        assert page.locator("nav li a").count() == len(gates) + 1  # + the verdicts
        assert page.locator("table.verdicts tbody tr").count() == len(gates)
        rows = page.locator("table.verdicts tbody tr")  # most severe first: the error, then the failed canary
        assert (
            rows.nth(0).locator("td").nth(1).inner_text() == "error"
            and "coverage" in rows.nth(0).inner_text()
        )
        assert (
            rows.nth(1).locator("td").nth(1).inner_text() == "fail" and "canary" in rows.nth(1).inner_text()
        )
        assert "not Cobertura" in rows.nth(0).inner_text()  # the reason of the deciding check, at the top
        for gate in document["gates"]:
            section = page.locator(f"section.gate[data-gate='{gate['gate']}']")
            assert section.is_visible()
            assert section.locator("table.checks tbody tr").count() == len(gate["checks"])
            charts = section.locator("svg.chart")
            assert charts.count() == len(figures.charts(gate)), gate["gate"]
            for index in range(charts.count()):
                box = charts.nth(index).bounding_box()
                assert box and box["width"] > 300 and box["height"] > 100
                assert charts.nth(index).locator("rect, path, circle").count() > 3  # something drawn
        for name in ("metrics", "bias", "drift", "canary"):  # the charts the issue asks for are there
            assert page.locator(f"section.gate[data-gate='{name}'] svg.chart").count() >= 1, name
        titles = page.locator("figcaption strong").all_inner_texts()
        assert "ROC curve" in titles and "Calibration (reliability)" in titles
        assert any("anytime-valid bounds" in t for t in titles)
        assert page.locator("section.gate[data-gate='security'] table.findings tbody tr").count() == len(
            next(g for g in document["gates"] if g["gate"] == "security")["findings"]
        )
        page.locator("nav a", has_text="drift").click()
        assert page.evaluate("location.hash").startswith("#gate-")
    finally:
        page.close()


def column(table, index: int) -> list[str]:
    return [
        row.locator("td").nth(index).inner_text()
        for row in table.locator("tbody tr").all()
        if row.is_visible()
    ]


def test_tables_sort_by_a_clicked_heading(browser, report):
    path, _ = report
    page = open_page(browser, path)
    try:
        table = page.locator("section.gate[data-gate='drift'] table.checks")
        value = table.locator("thead th", has_text="value")
        value.click()
        ascending = [float(v) for v in column(table, 2)]
        assert ascending == sorted(ascending) and value.get_attribute("aria-sort") == "ascending"
        value.click()
        assert [float(v) for v in column(table, 2)] == sorted(ascending, reverse=True)
        table.locator("thead th", has_text="check").click()
        names = column(table, 0)
        assert names == sorted(names, key=str.lower)
        verdicts = page.locator("table.verdicts")
        verdicts.locator("thead th", has_text="status").click()  # by severity rank, not alphabetically
        assert column(verdicts, 1)[0] == "error" and column(verdicts, 1)[-1] == "pass"
    finally:
        page.close()


def test_tables_filter_by_text_and_by_status(browser, report):
    path, _ = report
    page = open_page(browser, path)
    try:
        section = page.locator("section.gate[data-gate='data']")
        table = section.locator("table.checks")
        total = table.locator("tbody tr").count()
        section.locator(".toolbar input").fill("column:a")
        names = column(table, 0)
        assert names and all("column:a" in n for n in names) and len(names) < total
        assert section.locator(".toolbar .shown").inner_text() == f"{len(names)} of {total} rows"
        section.locator(".toolbar input").fill("")
        assert len(column(table, 0)) == total
        security = page.locator("section.gate[data-gate='security']")
        security.locator(".toolbar select").first.select_option("failing")
        statuses = column(security.locator("table.checks"), 1)
        assert statuses and set(statuses) == {"warn"}
        findings = security.locator("table.findings")
        security.locator(".toolbar input").nth(1).fill("k8s.image-digest")
        assert column(findings, 1) and set(column(findings, 1)) == {"k8s.image-digest"}
    finally:
        page.close()


def rgb(page, selector: str, prop: str) -> str:
    return page.evaluate(f"getComputedStyle(document.querySelector({selector!r})).{prop}")


def test_dark_mode_and_print(browser, report):
    path, _ = report
    light, dark = open_page(browser, path, "light"), open_page(browser, path, "dark")
    try:
        assert rgb(light, "body", "backgroundColor") == "rgb(255, 255, 255)"
        assert rgb(dark, "body", "backgroundColor") == "rgb(13, 17, 23)"
        assert rgb(dark, "body", "color") != rgb(light, "body", "color")
        assert dark.problems == []
        # chart marks take their colours from the page, so they follow the mode too
        assert rgb(dark, "svg .line.c0, svg .bar.c0", "stroke") != rgb(
            light, "svg .line.c0, svg .bar.c0", "stroke"
        )
        dark.emulate_media(media="print")
        assert rgb(dark, "nav", "display") == "none"
        assert rgb(dark, "body", "backgroundColor") == "rgb(255, 255, 255)"  # printed on paper, not dark
        dark.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        assert dark.evaluate("[...document.querySelectorAll('details')].every(d => d.open)")
    finally:
        light.close()
        dark.close()


def test_page_is_small_and_has_no_external_reference(report):
    path, _ = report
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) < 400_000
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://prometheus.test"}  # a namespace; a recorded value
    assert "<img" not in text and "<link" not in text and "src=" not in text
