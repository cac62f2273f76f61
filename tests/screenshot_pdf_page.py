"""The README's picture of a PDF page with the cited passage marked, made in real Chromium (the
system's /usr/bin/chromium, driven by playwright) against a real uvicorn serving the seeds rendered
as PDFs (bench/render_documents.py): ask a question, open the answer's citation, and photograph the
document view's page: the PDF page image with the cited lines marked on it, and its caption.

    python tests/screenshot_pdf_page.py OUT_DIR      # `make screenshots` writes docs/screenshot-pdf-page.png

A script, not a test (pytest collects only test_*.py); it reuses the page tests' helpers.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

QUESTION = "截至2017年上海云计算相关软件和信息服务业产值是多少？"    # written for this picture, not an evaluation question
VIEWPORT = {"width": 1280, "height": 900}
SCALE = 2.5             # device pixels per CSS pixel: the page image, shown small beside the text, stays legible


def main(out_dir: Path) -> Path:
    from playwright.sync_api import expect, sync_playwright

    import render_documents as R
    from tests.test_page import ARGS, CHROMIUM, STEP_TIMEOUT_MS, open_context, watch
    from tests.test_upload import serve
    from wenda.api.settings import Settings
    from wenda.indexer.build import IndexSettings, build_index
    from wenda.indexer.embed import Embedder

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"needs Chromium at {CHROMIUM}: apt-get install chromium")
    cache = Settings.from_env().cache_dir
    embedder = Embedder.load(None, cache)
    out = out_dir / "screenshot-pdf-page.png"
    with tempfile.TemporaryDirectory(prefix="wenda-shot-") as tmp:
        made = R.render_all(ROOT / "seeds", Path(tmp) / "files")
        build_index([made["pdf"][0].parent], Path(tmp) / "index", IndexSettings(), cache, embedder=embedder)
        with serve(Path(tmp) / "index", cache, embedder) as base:
            expect.set_options(timeout=120_000)
            problems: list[str] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    context = open_context(browser, base, problems, viewport=VIEWPORT, device_scale_factor=SCALE)
                    context.set_default_timeout(STEP_TIMEOUT_MS)
                    page = context.new_page()
                    watch(page, problems)
                    page.goto(base + "/")
                    page.locator("#q").fill(QUESTION)
                    page.keyboard.press("Enter")
                    expect(page.locator("#answer-badge")).to_have_text("找到答案")
                    citation = page.locator("#citations .cite-link").first
                    expect(citation).to_contain_text(".pdf")
                    citation.click()
                    expect(page.locator("#page-view")).to_be_visible()
                    page.wait_for_function("() => { const i = document.getElementById('page-image');"
                                           " return i.complete && i.naturalWidth > 1000; }")
                    marks = page.locator("#page-frame .page-mark")
                    expect(marks.first).to_be_visible()
                    expect(page.locator("#page-caption")).to_contain_text("页")
                    view = page.locator("#page-view")
                    page.evaluate("window.scrollTo(0, 0)")     # the view whole, below the sticky bar
                    page.wait_for_timeout(300)
                    view.screenshot(path=str(out))      # the page image, its marks and its caption
                finally:
                    browser.close()
            if problems:
                raise SystemExit("the page went wrong: " + "; ".join(problems))
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/screenshot_pdf_page.py OUT_DIR")
    main(Path(sys.argv[1]))
