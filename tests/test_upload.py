"""Adding and removing documents while serving, over a real uvicorn with the real model: a PDF
made with a CJK font is uploaded, indexed in the background and searchable with its page; its page
image, the cited lines' boxes and the original file are served; deleting it takes it out again.
Refused writes: unsafe names, content that does not match the extension, a non-loopback client
without an API key (a loopback proxy forwarding a remote client), a missing key."""
from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest

import _documents as D
from _servers import serve_in_thread
from wenda.api.server import create_app
from wenda.api.settings import Settings
from wenda.indexer.build import IndexSettings, build_index
from wenda.search import Searcher

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not D.FONT.exists(), reason="needs fonts-wqy-microhei")]

NOTES = ("青岚市公交票价\n\n青岚市普通公交线路单程票价两元，持老年卡的乘客免费乘车，"
         "换乘地铁九十分钟内优惠一元。\n")
BUILD_TIMEOUT_S = 240


@pytest.fixture()
def corpus_index(tmp_path, cache_dir, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text(NOTES, encoding="utf-8")
    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, IndexSettings(), cache_dir, embedder=embedder)
    return corpus, index_dir


def serve(index_dir: Path, cache_dir: Path, embedder, api_key: str | None = None):
    searcher = Searcher.open(index_dir, cache_dir=cache_dir, embedder=embedder)
    settings = Settings(index_dir=index_dir, cache_dir=cache_dir, request_timeout_s=300.0, reload_check_s=0.3,
                        api_key=api_key)
    return serve_in_thread(create_app(settings, searcher=searcher))


BOUNDARY = "wenda-test-boundary"


def multipart(name: str, data: bytes) -> bytes:
    """A multipart body with the file name as raw bytes (httpx would percent-encode control characters)."""
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def wait_for_build(client: httpx.Client) -> dict:
    """GET /api/index until the build is done and served; the last status."""
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    seen_fractions = []
    while time.monotonic() < deadline:
        status = client.get("/api/index").json()
        seen_fractions.append(status["fraction"])
        if status["state"] == "idle" and not status["queued"]:
            assert status["last_error"] is None, status
            assert status["serving"] == status["last_report"]["generation"], status
            assert seen_fractions == sorted(seen_fractions), seen_fractions       # the bar only moves forward
            return status
        time.sleep(0.2)
    raise AssertionError(f"the build did not finish in {BUILD_TIMEOUT_S} s: {status}")


def test_upload_a_pdf_search_it_see_its_page_then_delete_it(corpus_index, cache_dir, embedder):
    from PIL import Image

    corpus, index_dir = corpus_index
    pdf = D.text_pdf()
    with serve(index_dir, cache_dir, embedder) as base, httpx.Client(base_url=base, timeout=120) as client:
        r = client.post("/api/documents", files={"file": ("水务报告.pdf", pdf, "application/pdf")})
        assert r.status_code == 202, r.text
        assert r.json()["source"] == "水务报告.pdf"
        assert (corpus / "水务报告.pdf").read_bytes() == pdf
        status = wait_for_build(client)
        report = status["last_report"]
        assert report["added"] == ["水务报告.pdf"] and report["unchanged"] == 1
        assert report["formats"] == {"pdf": 1, "text": 1} and report["skipped"] == []

        hit = client.get("/api/search", params={"q": "汛期前疏通了多少公里雨水管道？", "k": 1}).json()["hits"][0]
        assert hit["source"] == "水务报告.pdf" and hit["page"] == 2
        doc = client.get("/api/documents/水务报告.pdf").json()
        assert hit["text"] == doc["text"][hit["start"]:hit["end"]]

        # the page image
        png = client.get("/api/documents/水务报告.pdf/pages/2.png")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(png.content))
        assert image.size == (1191, 1684)             # A4 at 144 dpi
        for bad in ("/api/documents/水务报告.pdf/pages/4.png", "/api/documents/notes.txt/pages/1.png",
                    "/api/documents/nothing.pdf/pages/1.png"):
            r = client.get(bad)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (bad, r.text)

        # the cited lines' boxes: inside the page, below the running header, one per line
        boxes = client.get("/api/documents/水务报告.pdf/pages/2/boxes",
                           params={"start": hit["start"], "end": hit["end"]}).json()["boxes"]
        page2 = next(p for p in doc["pages"] if p["page"] == 2)
        cited_lines = [ln for ln in doc["text"][hit["start"]:min(hit["end"], page2["end"])].splitlines() if ln.strip()]
        assert len(boxes) >= len(cited_lines)
        for left, top, right, bottom in boxes:
            assert 0 <= left < right <= 1 and 0.05 < top < bottom < 0.9
        # the pixels under the first box are text (dark), not blank page
        left, top, right, bottom = boxes[0]
        w, h = image.size
        region = image.convert("L").crop((int(left * w), int(top * h), int(right * w), int(bottom * h)))
        assert region.getextrema()[0] < 100

        # the original file
        original = client.get("/api/documents/水务报告.pdf/file")
        assert original.status_code == 200 and original.content == pdf
        assert original.headers["content-type"] == "application/pdf"
        text = client.get("/api/documents/notes.txt/file")
        assert text.headers["content-type"] == "text/plain; charset=utf-8" and text.text == NOTES
        assert "sandbox" in text.headers["content-security-policy"]
        for bad in ("/api/documents/../index/CURRENT/file", "/api/documents/%2E%2E/index/CURRENT/file",
                    "/api/documents/nothing.txt/file"):
            assert client.get(bad).status_code == 404, bad

        # delete it again
        r = client.delete("/api/documents/水务报告.pdf")
        assert r.status_code == 202, r.text
        assert not (corpus / "水务报告.pdf").exists()
        status = wait_for_build(client)
        assert status["last_report"]["deleted"] == ["水务报告.pdf"]
        assert [d["source"] for d in client.get("/api/documents").json()] == ["notes.txt"]
        hits = client.get("/api/search", params={"q": "汛期前疏通了多少公里雨水管道？", "k": 5}).json()["hits"]
        assert {h["source"] for h in hits} == {"notes.txt"}
        assert client.delete("/api/documents/水务报告.pdf").status_code == 404


def test_refused_uploads_say_why_and_store_nothing(corpus_index, cache_dir, embedder):
    corpus, index_dir = corpus_index
    before = sorted(p.name for p in corpus.iterdir())
    with serve(index_dir, cache_dir, embedder) as base, httpx.Client(base_url=base, timeout=120) as client:
        cases = {
            "pretend.pdf": ("只是一段文字。".encode(), "name says .pdf"),
            "../evil.txt": ("上一级目录".encode(), "'..'"),
            "bad\x07name.txt": ("控制字符".encode(), "control characters"),
            "table.xlsx": (b"PK\x03\x04", "wenda reads"),
            "empty.txt": (b"", "empty"),
        }
        for name, (data, reason) in cases.items():
            r = client.post("/api/documents", content=multipart(name, data),
                            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            assert 400 <= r.status_code < 500 and reason in r.json()["error"]["message"], (name, r.text)
        refused = client.get("/api/index").json()["refused"]
        assert len(refused) == len(cases)
        assert any(x["source"] == "pretend.pdf" and "name says .pdf" in x["reason"] for x in refused)

        # a remote client (here: forwarded by a reverse proxy on this machine) may not write without a key
        r = client.post("/api/documents", files={"file": ("ok.txt", "可以读的文字。".encode(), "text/plain")},
                        headers={"X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert client.delete("/api/documents/notes.txt", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
        # reads stay open to it
        assert client.get("/api/index", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_with_an_api_key_writes_need_it(corpus_index, cache_dir, embedder):
    corpus, index_dir = corpus_index
    with serve(index_dir, cache_dir, embedder, api_key="upload-key") as base, \
            httpx.Client(base_url=base, timeout=120) as client:
        files = {"file": ("fares.txt", "青岚市出租车起步价十二元。".encode(), "text/plain")}
        r = client.post("/api/documents", files=files)
        assert r.status_code == 401
        assert not (corpus / "fares.txt").exists()
        # with the key, even a forwarded remote client may write
        r = client.post("/api/documents", files=files,
                        headers={"Authorization": "Bearer upload-key", "X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 202, r.text
        client.headers["Authorization"] = "Bearer upload-key"
        wait_for_build(client)
        hit = client.get("/api/search", params={"q": "出租车起步价是多少？", "k": 1}).json()["hits"][0]
        assert hit["source"] == "fares.txt"


def pdf_with_a_photo(pages: list[list[str]]) -> bytes:
    """A text PDF whose first page also carries a (noise) photograph: some 200 KB."""
    import os

    from PIL import Image

    pdf = D._pdf()
    pdf.set_font("wqy", size=12)
    for number, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_xy(10, 30)
        for para in paragraphs:
            pdf.multi_cell(0, 7, para)
            pdf.ln(6)
        if number == 1:
            pdf.image(Image.frombytes("RGB", (260, 260), os.urandom(260 * 260 * 3)), x=10, y=150, w=80)
    return bytes(pdf.output())


def test_a_large_upload_beyond_the_json_body_limit_is_taken(corpus_index, cache_dir, embedder):
    """Uploads have their own size limit, not the 64 KiB of JSON requests."""
    corpus, index_dir = corpus_index
    pdf = pdf_with_a_photo(D.PDF_PAGES * 7)       # 21 pages, one with a photo
    assert len(pdf) > 64 * 1024
    with serve(index_dir, cache_dir, embedder) as base, httpx.Client(base_url=base, timeout=120) as client:
        r = client.post("/api/documents", files={"file": ("long.pdf", pdf, "application/pdf")})
        assert r.status_code == 202, r.text
        status = wait_for_build(client)
        assert status["last_report"]["formats"]["pdf"] == 1
        doc = client.get("/api/documents/long.pdf").json()
        assert len(doc["pages"]) == 21
