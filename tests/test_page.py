"""The web page in real headless Chromium (the system's /usr/bin/chromium, driven by playwright)
against a real `wenda serve` started with an API key: enter the key, ask with the keyboard,
open a citation with the keyboard, check the highlighted span is exactly the cited text; then
the same on a 375 px wide phone screen. Screenshots go to the test's temporary folder, or to
WENDA_SCREENSHOTS (`make screenshots` sets it to docs/ for the README)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.test_http import QUESTION, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
KEY = "page-test-key"
ANSWER_TIMEOUT_MS = 120_000
STEP_TIMEOUT_MS = 30_000        # generous: the machine may be busy with other work


@pytest.fixture(scope="module")
def server(seeds_index, wenda_env, tmp_path_factory, run_wenda):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed: apt-get install chromium")
    log = tmp_path_factory.mktemp("page-server") / "serve.log"
    proc, base, _ = start_server(seeds_index, wenda_env, log, {"WENDA_API_KEY": KEY}, forks=run_wenda)
    yield base
    stop_server(proc)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def document_text(base: str, source: str) -> str:
    r = httpx.get(f"{base}/api/documents/{quote(source)}", headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    r.raise_for_status()
    return r.json()["text"]


def open_context(browser, base: str, problems: list[str], **options):
    """A browser context that may only talk to our server (anything else is blocked and noted)."""
    context = browser.new_context(locale="zh-CN", **options)
    context.set_default_timeout(STEP_TIMEOUT_MS)

    def guard(route):
        url = route.request.url
        if url.startswith(base + "/") or url.startswith("data:"):
            route.continue_()
        else:
            problems.append(f"request outside the server: {url}")
            route.abort()

    context.route("**/*", guard)
    return context


def watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and "401" not in msg.text else None)


def cited_span(page) -> tuple[str, int, int]:
    query = parse_qs(urlsplit(page.url).query)
    return query["doc"][0], int(query["start"][0]), int(query["end"][0])


def assert_mark_is_the_citation(page, base: str) -> None:
    from playwright.sync_api import expect

    mark = page.locator("#doc-text mark.cited")
    expect(mark).to_be_visible()
    expect(mark).to_be_focused()
    source, start, end = cited_span(page)
    assert mark.text_content() == document_text(base, source)[start:end]
    in_view = mark.evaluate("m => { const r = m.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0 }")
    assert in_view, "the cited span was not scrolled into view"


def test_ask_and_open_a_citation_with_the_keyboard(browser, server, tmp_path):
    from playwright.sync_api import expect

    shots = Path(os.environ.get("WENDA_SCREENSHOTS") or tmp_path)

    problems: list[str] = []
    context = open_context(browser, server, problems, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch(page, problems)
    page.goto(server + "/")

    # the server has an API key: the page asks for it once
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-input")).to_be_focused()
    page.keyboard.type(KEY)
    page.keyboard.press("Enter")
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator("#doc-list li")).to_have_count(5)

    # ask with the keyboard only
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator("#answer-badge")).to_have_text("找到答案", timeout=ANSWER_TIMEOUT_MS)
    assert parse_qs(urlsplit(page.url).query)["q"] == [QUESTION]
    # the short answer is bold inside its sentence
    short = page.locator("#answer-text strong.answer-span")
    expect(short).to_have_count(1)
    assert short.inner_text() and short.inner_text() in page.locator("#answer-text").inner_text()
    assert page.evaluate("getComputedStyle(document.querySelector('#answer-text strong')).fontWeight") in ("700", "bold")
    citations = page.locator("#citations .cite-link")
    assert citations.count() >= 1
    assert re.search(r"\.txt › .+ › 第\d+段", citations.first.inner_text())
    expect(page.locator("#passages > li")).to_have_count(5)
    assert page.locator("#passages mark").count() >= 5
    page.screenshot(path=str(shots / "screenshot-search.png"), full_page=True)

    # Tab from the search box to the first citation, open it with Enter
    page.locator("#q").focus()
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('cite-link')"):
            break
    expect(citations.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#doc-view")).to_be_visible()
    assert_mark_is_the_citation(page, server)
    expect(page.locator("#doc-cited")).to_contain_text("第")
    page.screenshot(path=str(shots / "screenshot-document.png"))

    # Escape goes back to the results; Forward opens the document again (the URL is the state)
    page.keyboard.press("Escape")
    expect(page.locator("#results")).to_be_visible()
    assert "doc" not in parse_qs(urlsplit(page.url).query)
    page.go_forward()
    expect(page.locator("#doc-view")).to_be_visible()
    expect(page.locator("#doc-text mark.cited")).to_be_visible()

    # an empty question is refused on the page, with a message
    page.goto(server + "/")
    page.locator("#q").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#status.error")).to_contain_text("请输入")
    context.close()
    assert problems == []


def test_phone_sized_window(browser, server, tmp_path):
    from playwright.sync_api import expect

    problems: list[str] = []
    context = open_context(browser, server, problems, viewport={"width": 375, "height": 740},
                           device_scale_factor=2, is_mobile=True, has_touch=True)
    context.add_init_script(f"sessionStorage.setItem('wenda.apiKey', {KEY!r})")
    page = context.new_page()
    watch(page, problems)
    page.goto(f"{server}/?q={quote(QUESTION)}")          # a shared link
    expect(page.locator("#answer-badge")).to_have_text("找到答案", timeout=ANSWER_TIMEOUT_MS)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "the page scrolls sideways"
    page.screenshot(path=str(tmp_path / "phone-search.png"), full_page=True)

    link = page.locator("#citations .cite-link").first
    link.focus()
    page.keyboard.press(" ")                             # Space works like Enter
    expect(page.locator("#doc-view")).to_be_visible()
    assert_mark_is_the_citation(page, server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(tmp_path / "phone-document.png"))

    page.locator("#back").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#results")).to_be_visible()
    context.close()
    assert problems == []


def test_a_corrected_typo_is_said(browser, server):
    from playwright.sync_api import expect

    problems: list[str] = []
    context = open_context(browser, server, problems)
    context.add_init_script(f"sessionStorage.setItem('wenda.apiKey', {KEY!r})")
    page = context.new_page()
    watch(page, problems)
    page.goto(f"{server}/?q={quote('普佗区开通的5G室外基站有多少个')}")      # 佗 for 陀
    expect(page.locator("#answer-badge")).to_have_text("找到答案", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#answer-note")).to_be_visible()
    expect(page.locator("#answer-note")).to_contain_text("已按「普陀区开通的5G室外基站有多少个」回答")
    context.close()
    assert problems == []


def test_errors_are_shown_with_the_server_message(browser, server):
    from playwright.sync_api import expect

    problems: list[str] = []
    context = open_context(browser, server, problems, viewport={"width": 900, "height": 700})
    context.add_init_script(f"sessionStorage.setItem('wenda.apiKey', {KEY!r})")
    page = context.new_page()
    page.goto(f"{server}/?q={quote('？！。')}")            # only punctuation: 400 from the API
    expect(page.locator("#status.error")).to_contain_text("输入有误（400）")
    expect(page.locator("#status.error")).to_contain_text("only punctuation")
    page.goto(f"{server}/?doc=..%2F..%2Fetc%2Fpasswd&start=0&end=5")
    expect(page.locator("#status.error")).to_contain_text("没有找到（404）")
    context.close()
    assert problems == []
