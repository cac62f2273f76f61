"""Readers on real files made here: PDFs drawn with a CJK font (headers, footers, page numbers,
two columns, a scanned page), a .docx with headings and a table, GB18030 HTML, and broken files."""
from __future__ import annotations

import difflib

import pytest

import _documents as D
from wenda.indexer.chunker import chunk_document
from wenda.indexer.corpus import DecodedFile, Skipped, read_bytes, unsafe_name
from wenda.indexer.readers import docx as docx_reader
from wenda.indexer.readers import html as html_reader
from wenda.indexer.readers import pdf as pdf_reader

pytestmark = pytest.mark.skipif(not D.FONT.exists(), reason="needs fonts-wqy-microhei (apt-get install fonts-wqy-microhei)")


def _chunks(x, source):
    return chunk_document(source, x.text, headings=x.headings, paragraph_ends=x.paragraph_ends,
                          pages=x.pages, title=x.title)


def test_pdf_pages_without_running_headers_and_page_numbers():
    x = pdf_reader.read(D.text_pdf(), "report.pdf")
    assert x.kind == "pdf" and [p.page for p in x.pages] == [1, 2, 3]
    for page, paragraphs in zip(x.pages, D.PDF_PAGES):
        page_text = x.text[page.start:page.end].replace("\n", "")
        for para in paragraphs:
            assert para in page_text
    assert D.HEADER not in x.text and D.FOOTER not in x.text
    assert not any(f"- {n} -" in x.text for n in (1, 2, 3))
    # pages tile the text in order, separated by the blank line between them
    assert x.pages[0].start == 0 and x.pages[-1].end == len(x.text)
    assert all(a.end < b.start for a, b in zip(x.pages, x.pages[1:]))


def test_pdf_passages_know_their_pages_and_a_sentence_across_pages_is_one_passage():
    x = pdf_reader.read(D.text_pdf(), "report.pdf")
    _, passages = _chunks(x, "report.pdf")
    for p in passages:
        assert p.text == x.text[p.start:p.end]
        assert D.HEADER not in p.clean and D.FOOTER not in p.clean
    by_page = {(p.page, p.page_end) for p in passages}
    assert (1, 1) in by_page
    across = [p for p in passages if "预警信息平均提前四十分钟发布" in p.clean]
    assert len(across) == 1 and (across[0].page, across[0].page_end) == (2, 3)
    water = next(p for p in passages if "八十五万吨" in p.clean)
    assert water.section == ("一、供水概况",) and water.page == 1


def test_two_column_page_is_read_column_by_column():
    left = ["左栏讲述青岚湖的形成，它由古河道淤塞而成，距今约六千年。", "湖区周边以芦苇和水杉为主。"]
    right = ["右栏介绍湖区渔业，近五年捕捞量保持稳定。", "保护区范围内全年禁止垂钓。"]
    x = pdf_reader.read(D.two_column_pdf(left, right, "青岚湖综合考察"), "lake.pdf")
    flat = x.text.replace("\n", "")
    positions = [flat.index(s) for s in ["青岚湖综合考察", *left, *right]]
    assert positions == sorted(positions), x.text


def test_scanned_pdf_page_is_read_by_ocr():
    lines = ["青岚市档案馆收藏历史地图两千余幅。", "最早的一幅绘制于乾隆年间。"]
    x = pdf_reader.read(D.scanned_pdf(D.text_image(lines)), "scan.pdf")
    assert x.notes == ("pages 1 read by OCR",) and [p.page for p in x.pages] == [1]
    got = x.text.replace("\n", "")
    assert difflib.SequenceMatcher(None, got, "".join(lines)).ratio() >= 0.9, got


def test_single_line_images_keep_their_final_full_stop():
    """Lines are narrowed before recognition; the margin added at their ends keeps a line-final 。
    (without it, a third of these lost it, and a one-line file became a title with no passage).
    A 。 read as another mark is an OCR error that happens unnarrowed too, so a few may."""
    from wenda.indexer.readers import ocr

    lines = ["青岚市档案馆收藏历史地图两千余幅。", "园内已记录鸟类一百四十六种。", "自习区开放时间为八点至二十二点。",
             "全市推广节水器具十八万套。"]
    read = [(line, ocr.read(D.png(D.text_image([line], size=size)), "line.png")) for line in lines
            for size in (24, 40, 60)]
    assert all(x.kind == "image" and difflib.SequenceMatcher(None, x.text, line).ratio() >= 0.9
               for line, x in read), [x.text for _, x in read]
    assert all(x.text[-1] in "。，、." for _, x in read), [x.text for _, x in read]       # none dropped
    assert sum(x.text.endswith("。") for _, x in read) >= 9, [x.text for _, x in read]


def test_a_long_strip_keeps_its_text_at_detection_size():
    """A scrolled screenshot: detection shrinks the long side to 960 px but keeps the short side at
    480 px or more, so the characters stay readable."""
    from wenda.indexer.readers import ocr

    lines = [f"第{n}行：青岚市档案馆收藏历史地图两千余幅。" for n in range(1, 13)]
    spaced = [row for line in lines for row in (line, *[""] * 9)]       # 6,000 px tall, 676 px wide
    x = ocr.read(D.png(D.text_image(spaced, size=28)), "strip.png")
    got = x.text.replace("\n", "")
    assert difflib.SequenceMatcher(None, got, "".join(lines)).ratio() >= 0.9, x.text[:200]


def test_docx_headings_become_sections_and_table_rows_lines(tmp_path):
    D.docx_file(tmp_path / "guide.docx")
    x = docx_reader.read((tmp_path / "guide.docx").read_bytes(), "guide.docx")
    assert x.kind == "docx" and x.title == "青岚市图书馆服务指南"
    assert "少儿阅览室 | 九点至十七点" in x.text.splitlines()
    title, passages = _chunks(x, "guide.docx")
    assert title == "青岚市图书馆服务指南"
    sections = {p.clean.splitlines()[-1]: p.section for p in passages}
    assert sections["逾期未还的图书每册每天暂停借阅权限一天，不收取罚款。"] == ("借阅规则", "逾期处理")
    table = next(p for p in passages if "自习区 | 八点至二十二点" in p.clean)
    assert table.section == ("开放时间",)
    assert all(p.text == x.text[p.start:p.end] and not p.pages for p in passages)


def test_gb18030_html_main_content_and_sections():
    x = html_reader.read(D.html_gb18030(), "park.html")
    assert x.encoding == "gb18030" and "㐀游客" in x.text
    for left_out in ("不应出现的脚本文字", "联系我们", "版权所有", "color"):
        assert left_out not in x.text
    title, passages = _chunks(x, "park.html")
    assert title == "青岚湿地公园游览须知"
    birds = next(p for p in passages if "一百四十六种" in p.clean)
    assert birds.section == ("观鸟季节",) and "观鸟区禁止使用无人机。" in birds.clean


def test_html_without_declaration_is_detected_as_gbk():
    page = "<html><body><p>青岚湿地公园实行预约入园，每日限流八千人，请提前在公众号上预约参观时段。</p></body></html>"
    x = html_reader.read(page.encode("gbk"), "plain.html")
    assert "每日限流八千人" in x.text


def _reason(data: bytes, name: str) -> str:
    result = read_bytes(name, data)
    assert isinstance(result, Skipped), f"{name} should be skipped"
    assert "\n" not in result.reason
    return result.reason


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    assert "encrypted" in _reason(D.encrypted_pdf(), "locked.pdf")
    good = D.text_pdf()
    assert "damaged PDF" in _reason(good[:len(good) // 3], "cut.pdf")
    assert "zip bomb" in _reason(D.zip_bomb(), "bomb.docx")
    assert "name says .docx" in _reason("只是一段文字，不是压缩包。".encode(), "fake.docx")
    assert "not a valid .docx" in _reason(b"PK\x03\x04" + bytes(200), "broken.docx")
    assert "is empty" in _reason(b"", "empty.txt")
    assert "without visible text" in _reason(
        b"<!DOCTYPE html><html><head><script>alert(1)</script></head><body><script>x()</script></body></html>",
        "scripts.html")
    assert "name says .txt" in _reason(good, "report.txt")
    assert "name says .pdf" in _reason("青岚市的普通文本。".encode(), "report.pdf")
    assert "name says .png" in _reason(good, "photo.png")
    assert "OCR" in _reason(D.scanned_pdf(D.text_image(["　"])), "blank-scan.pdf")


def test_unsafe_names():
    assert unsafe_name("../etc/passwd.txt") and unsafe_name("a/../b.txt")
    assert unsafe_name("bad\x07name.txt") and unsafe_name("/abs.txt") and unsafe_name("a\\b.txt")
    assert unsafe_name("报告/2025年.pdf") is None and unsafe_name("a..b.txt") is None


def test_good_files_read_by_content():
    result = read_bytes("report.pdf", D.text_pdf())
    assert isinstance(result, DecodedFile) and result.extracted.kind == "pdf"
    text = read_bytes("notes.md", "# 标题\n\n青岚市的普通文本。".encode("gb18030"))
    assert isinstance(text, DecodedFile) and text.encoding == "gb18030"
