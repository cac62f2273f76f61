"""The page's add-document flow in real Chromium against a real uvicorn: choose a .txt file, see
the progress bar finish, ask about it and get it cited; a refused file is listed with its reason;
an uploaded PDF's hit opens the document view with the page image and the cited lines marked."""
from __future__ import annotations

from pathlib import Path

import pytest

import _documents as D
from tests.test_page import ARGS, CHROMIUM, STEP_TIMEOUT_MS, open_context, watch
from tests.test_upload import serve

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not D.FONT.exists(), reason="needs fonts-wqy-microhei")]

BUILD_TIMEOUT_MS = 240_000
FARES = "青岚市轮渡票价\n\n青岚市过江轮渡单程票价一元五角，夜间航班每半小时一班，末班船二十三点开出。\n"


@pytest.fixture()
def page_server(tmp_path, cache_dir, embedder):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed: apt-get install chromium")
    from wenda.indexer.build import IndexSettings, build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("青岚市公交票价\n\n普通公交线路单程票价两元。\n", encoding="utf-8")
    build_index([corpus], tmp_path / "index", IndexSettings(), cache_dir, embedder=embedder)
    with serve(tmp_path / "index", cache_dir, embedder) as base:
        yield base, tmp_path


def test_add_documents_from_the_page_and_search_them(page_server):
    from playwright.sync_api import expect, sync_playwright

    base, tmp = page_server
    fares = tmp / "轮渡.txt"
    fares.write_text(FARES, encoding="utf-8")
    pretend = tmp / "pretend.pdf"
    pretend.write_text("一段普通的文字。", encoding="utf-8")
    report = tmp / "水务报告.pdf"
    report.write_bytes(D.text_pdf())

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = open_context(browser, base, problems, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            watch(page, problems)
            page.goto(base + "/")
            expect(page.locator("#doc-list li")).to_have_count(1)
            expect(page.locator("#add-docs")).to_contain_text("添加文档")

            page.locator("#file-input").set_input_files([str(fares), str(pretend), str(report)])
            expect(page.locator("#index-box")).to_be_visible()
            expect(page.locator("#index-box")).to_have_attribute("data-done", "true", timeout=BUILD_TIMEOUT_MS)
            assert page.locator("#index-progress").evaluate("p => p.value") == 1
            expect(page.locator("#index-state")).to_contain_text("索引已更新：3 篇文档")
            expect(page.locator("#upload-errors li")).to_have_count(1)
            expect(page.locator("#upload-errors li")).to_contain_text("pretend.pdf：refused: content is plain text")
            expect(page.locator("#doc-list li")).to_have_count(3)

            page.locator("#q").fill("过江轮渡单程票价是多少？")
            page.keyboard.press("Enter")
            expect(page.locator("#passages > li").first).to_contain_text("轮渡", timeout=BUILD_TIMEOUT_MS)
            expect(page.locator("#passages .where").first).to_contain_text("轮渡.txt")

            # a PDF hit: the page image beside the text, the cited lines marked on it
            page.locator("#q").fill("汛期前疏通了多少公里雨水管道？")
            page.keyboard.press("Enter")
            first = page.locator("#passages > li").first
            expect(first.locator(".where")).to_contain_text("水务报告.pdf", timeout=BUILD_TIMEOUT_MS)
            first.locator(".hit-title").click()
            expect(page.locator("#page-view")).to_be_visible()
            expect(page.locator("#page-caption")).to_contain_text("第 2 页 / 共 3 页")
            page.wait_for_function("() => { const i = document.getElementById('page-image');"
                                   " return i.complete && i.naturalWidth > 1000; }")
            marks = page.locator("#page-frame .page-mark")
            expect(marks.first).to_be_visible()
            assert marks.count() >= 2
            box = marks.first.bounding_box()
            frame = page.locator("#page-frame").bounding_box()
            assert frame["y"] < box["y"] < frame["y"] + frame["height"] and box["width"] > 20
            import os

            shots = Path(os.environ.get("WENDA_SCREENSHOTS") or tmp)
            page.screenshot(path=str(shots / "screenshot-pdf-page.png"))
        finally:
            browser.close()
    # the browser logs the refused upload's 400; nothing else may go wrong
    refused = "console error: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert [x for x in problems if x != refused] == [] and problems.count(refused) == 1, problems
