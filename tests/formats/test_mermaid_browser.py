"""The job summary's charts parse and render with Mermaid itself (the library GitHub uses to draw them), in chromium.

Needs mermaid's browser bundle: MLGATE_MERMAID_JS names mermaid.min.js (from the npm package `mermaid`, checked
with 11.17.2: `npm install mermaid@11` and point at node_modules/mermaid/dist/mermaid.min.js)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.formats import figures, markdown, mermaid

MERMAID_JS = os.environ.get("MLGATE_MERMAID_JS", "")
CHROMIUM = os.environ.get("MLGATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
if not (MERMAID_JS and Path(MERMAID_JS).is_file()):
    pytest.skip("needs mermaid.min.js (set MLGATE_MERMAID_JS)", allow_module_level=True)
if not Path(CHROMIUM).exists():
    pytest.skip(f"needs chromium ({CHROMIUM} not found; set MLGATE_CHROMIUM)", allow_module_level=True)


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    """A function: Mermaid source -> 'ok' or Mermaid's error message."""
    page_file = tmp_path_factory.mktemp("mermaid") / "mermaid.html"
    page_file.write_text(
        "<html><body><script>" + Path(MERMAID_JS).read_text(encoding="utf-8") + "</script></body></html>",
        encoding="utf-8",
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.evaluate("mermaid.initialize({startOnLoad: false})")
        counter = iter(range(10**9))

        def draw(source: str) -> str:
            return page.evaluate(
                "async ([id, src]) => { try { const r = await mermaid.render(id, src); "
                "return r.svg.includes('<rect') || r.svg.includes('<path') ? 'ok' : 'empty'; } "
                "catch (e) { return String(e.message || e); } }",
                [f"m{next(counter)}", source],
            )

        yield draw
        browser.close()


def blocks(text: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL)


def test_canary_and_group_charts_of_real_runs_render(render):
    from tests.formats.canary_runs import canary_result

    text = markdown.render([canary_result(regressed=True), canary_result(regressed=False)])
    found = blocks(text)
    assert len(found) >= 6
    assert [render(source) for source in found] == ["ok"] * len(found)


labels = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(labels, min_size=1, max_size=6),
    labels,
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32) | st.none(), min_size=6, max_size=6),
)
def test_any_labels_and_values_render(render, categories, title, values):
    chart = figures.Chart(
        title,
        "x",
        title,
        [figures.Series(title, [figures.number(v) for v in values[: len(categories)]], style="bars")],
        categories=categories,
        rules=[figures.Rule(0.5, title)],
    )
    lines = mermaid.render(chart)
    assert lines is not None
    (source,) = blocks("\n".join(lines))
    assert render(source) == "ok", source
