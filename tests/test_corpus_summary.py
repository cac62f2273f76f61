"""The tool descriptions of a large corpus stay short (counts by kind and a few titles, never
every title), and list_documents pages through the corpus."""
from __future__ import annotations

import re

import pytest

from wenda.api.tools import call_tool, corpus_summary, openai_tool_schemas, render_result, tool_descriptions
from wenda.indexer.errors import BadInput

KINDS = ["pdf"] * 3200 + ["docx"] * 1000 + ["html"] * 500 + ["text"] * 300


def archive(n: int = 5000) -> list[dict]:
    return [{"source": f"{i:05d}.{KINDS[i % len(KINDS)]}", "title": f"青岚市档案第{i}号：关于城市供水管网改造的报告",
             "kind": KINDS[i * 7 % len(KINDS)], "passages": 3, "chars": 900} for i in range(n)]


def test_a_5000_document_corpus_is_summarised_not_listed():
    docs = archive()
    summary = corpus_summary(docs)
    assert summary.startswith("5000 篇中文文档")
    counts = {name: int(n) for name, n in re.findall(r"(PDF|Word|网页|文本) (\d+) 篇", summary)}
    expected = {"PDF": 0, "Word": 0, "网页": 0, "文本": 0}
    names = {"pdf": "PDF", "docx": "Word", "html": "网页", "text": "文本"}
    for d in docs:
        expected[names[d["kind"]]] += 1
    assert counts == expected
    assert summary.count("《") == 5 and len(summary) < 300
    for description in tool_descriptions(summary=summary).values():
        assert len(description) < 600


def test_a_small_corpus_names_every_title_and_its_kinds():
    docs = archive(3)
    summary = corpus_summary(docs)
    assert summary.startswith("三篇中文文档（") and summary.count("《") == 3
    text_only = [{**d, "kind": "text"} for d in docs]
    assert corpus_summary(text_only).startswith("三篇中文文章：")


def test_list_documents_pages_with_a_total(searcher):
    everything = call_tool(searcher, "list_documents", {})
    assert everything["total"] == 5 and len(everything["documents"]) == 5 and everything["limit"] == 50
    page = call_tool(searcher, "list_documents", {"offset": 2, "limit": 2})
    assert [d["source"] for d in page["documents"]] == [d["source"] for d in everything["documents"][2:4]]
    assert page["total"] == 5 and page["offset"] == 2
    assert "第 3–4 篇" in render_result("list_documents", page)
    assert call_tool(searcher, "list_documents", {"offset": 9})["documents"] == []
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": 10_000}):
        assert call_tool(searcher, "list_documents", bad)["error"]["code"] == BadInput.code
    schema = next(t for t in openai_tool_schemas(searcher) if t["function"]["name"] == "list_documents")
    assert set(schema["function"]["parameters"]["properties"]) == {"offset", "limit"}


def test_wenda_index_prints_formats_and_skipped_files(tmp_path, cache_dir, embedder):
    import _documents as D
    from wenda.api.cli import format_counts
    from wenda.indexer.build import IndexSettings, build_index

    if not D.FONT.exists():
        pytest.skip("needs fonts-wqy-microhei")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(D.text_pdf())
    (corpus / "notes.txt").write_text("青岚市公交\n\n普通公交线路单程票价两元。\n", encoding="utf-8")
    (corpus / "pretend.pdf").write_text("一段普通的文字。", encoding="utf-8")
    report = build_index([corpus], tmp_path / "index", IndexSettings(), cache_dir, embedder=embedder)
    lines = format_counts(report).splitlines()
    assert lines[0] == "formats   pdf 1, text 1"
    assert lines[1] == "skipped   1 file:" and lines[2].startswith("  pretend.pdf: content is plain text")
    again = build_index([corpus], tmp_path / "index", IndexSettings(), cache_dir, embedder=embedder)
    assert again.up_to_date and again.formats == {"pdf": 1, "text": 1}
