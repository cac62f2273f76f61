"""A folder of real PDF, scanned, Word, HTML and text files, with every kind of bad file, indexed
with the real model: bad files are skipped with a reason, the rest are searchable, PDF hits cite
their page, and every citation is exact against the document text the API serves."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

import _documents as D
from _servers import serve_in_thread
from wenda.api.server import create_app
from wenda.api.settings import Settings
from wenda.indexer.build import IndexSettings, build_index
from wenda.search import Searcher

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not D.FONT.exists(), reason="needs fonts-wqy-microhei")]

GOOD = {"report.pdf", "guide.docx", "park.html", "archive.png", "notes.txt"}
BAD = {"locked.pdf": "encrypted", "cut.pdf": "damaged PDF", "bomb.docx": "zip bomb",
       "fake.docx": "name says .docx", "empty.txt": "is empty", "big.txt": "too large",
       "scripts.html": "without visible text", "pretend.pdf": "name says .pdf",
       "blank-scan.pdf": "OCR", "bad\\x07name.txt": "control characters"}


def _make_corpus(folder: Path) -> None:
    folder.mkdir()
    pdf = D.text_pdf()
    (folder / "report.pdf").write_bytes(pdf)
    D.docx_file(folder / "guide.docx")
    (folder / "park.html").write_bytes(D.html_gb18030())
    (folder / "archive.png").write_bytes(D.png(D.text_image(["青岚市档案馆收藏历史地图两千余幅。"])))
    (folder / "notes.txt").write_text("青岚市自来水价格\n\n居民阶梯水价第一档每吨三元五角，第二档每吨四元八角，"
                                      "第三档每吨七元二角，按年度用水量计算。\n", encoding="utf-8")
    (folder / "locked.pdf").write_bytes(D.encrypted_pdf())
    (folder / "cut.pdf").write_bytes(pdf[:len(pdf) // 3])
    (folder / "bomb.docx").write_bytes(D.zip_bomb())
    (folder / "fake.docx").write_text("这不是一个 Word 文件。", encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "big.txt").write_text("青岚" * 600_000, encoding="utf-8")     # 3.6 MB > the 2 MB limit
    (folder / "scripts.html").write_text("<!DOCTYPE html><html><body><script>go()</script></body></html>")
    (folder / "pretend.pdf").write_text("一段普通的文字，却叫作 PDF。", encoding="utf-8")
    (folder / "blank-scan.pdf").write_bytes(D.scanned_pdf(D.text_image(["　"])))
    (folder / "bad\x07name.txt").write_text("名字里有控制字符的文件。", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir, embedder):
    base = tmp_path_factory.mktemp("documents")
    _make_corpus(base / "corpus")
    settings = IndexSettings(max_file_bytes=2 * 2**20)
    report = build_index([base / "corpus"], base / "index", settings, cache_dir, embedder=embedder)
    searcher = Searcher.open(base / "index", cache_dir=cache_dir, embedder=embedder)
    yield report, searcher, base / "index"
    searcher.close() if hasattr(searcher, "close") else None


def test_bad_files_are_skipped_and_the_rest_indexed(built):
    report, searcher, _ = built
    reasons = {s["source"]: s["reason"] for s in report.skipped}
    assert set(reasons) == set(BAD), reasons
    for source, words in BAD.items():
        assert words in reasons[source] and "\n" not in reasons[source]
    assert set(report.added) == GOOD and report.documents == len(GOOD)
    kinds = {d["source"]: d["kind"] for d in searcher.documents()}
    assert kinds == {"report.pdf": "pdf", "guide.docx": "docx", "park.html": "html", "archive.png": "image",
                     "notes.txt": "text"}


@pytest.mark.parametrize("question, source, snippet, page", [
    ("青岚市主城区的易涝点减少到几处？", "report.pdf", "九处", 2),
    ("青岚市工业用水重复利用率是多少？", "report.pdf", "百分之九十一", 3),
    ("图书馆的自习区几点关门？", "guide.docx", "八点至二十二点", None),
    ("湿地公园记录了多少种鸟类？", "park.html", "一百四十六种", None),
    ("档案馆收藏了多少幅历史地图？", "archive.png", "两千余幅", None),
])
def test_questions_find_their_document_and_page(built, question, source, snippet, page):
    _, searcher, _ = built
    hit = searcher.search(question, k=3).hits[0]
    data = hit.to_dict()
    assert data["source"] == source and snippet in data["text"]
    if page is None:
        assert "page" not in data and "page_end" not in data
    else:
        assert data["page"] <= page <= data["page_end"]
        meta, _, _ = searcher.document(source)
        at = data["start"] + data["text"].index(snippet)        # where the answer's characters are
        assert next(n for n, s, e in meta["pages"] if s <= at < e) == page


def test_no_running_header_footer_or_page_number_in_any_passage(built):
    _, searcher, _ = built
    _, text, passages = searcher.document("report.pdf")
    assert passages
    for sp in passages:
        p = sp.passage
        assert D.HEADER not in p.text and D.FOOTER not in p.text
        assert not any(f"- {n} -" in p.text for n in (1, 2, 3))
        assert p.text == text[p.start:p.end]


def _serve(index_dir: Path, cache_dir: Path, searcher):
    settings = replace(Settings(index_dir=index_dir, cache_dir=cache_dir, request_timeout_s=300.0))
    return serve_in_thread(create_app(settings, searcher=searcher))


def test_http_citations_are_exact_against_the_served_document_text(built, cache_dir):
    _, searcher, index_dir = built
    with _serve(index_dir, cache_dir, searcher) as base, httpx.Client(base_url=base, timeout=120) as client:
        doc = client.get("/api/documents/report.pdf").json()
        assert [p["page"] for p in doc["pages"]] == [1, 2, 3]
        assert doc["pages"][0]["start"] == 0 and doc["pages"][-1]["end"] == len(doc["text"])
        assert client.get("/api/documents/guide.docx").json()["pages"] == []
        texts = {}
        for question in ("预警信息提前多少分钟发布？", "读者证可以借几本书？", "再生水灌溉试点在哪个片区？"):
            hits = client.get("/api/search", params={"q": question, "k": 5}).json()["hits"]
            assert hits
            for hit in hits:
                if hit["source"] not in texts:
                    texts[hit["source"]] = client.get(f"/api/documents/{hit['source']}").json()
                served = texts[hit["source"]]
                assert hit["text"] == served["text"][hit["start"]:hit["end"]]
                if served["pages"]:
                    first = next(p["page"] for p in served["pages"] if p["start"] <= hit["start"] < p["end"])
                    assert hit["page"] == first and hit["page_end"] >= first
                else:
                    assert "page" not in hit
        across = client.get("/api/search", params={"q": "预警信息提前多少分钟发布？", "k": 1}).json()["hits"][0]
        assert across["source"] == "report.pdf" and (across["page"], across["page_end"]) == (2, 3)
