"""PDF with pypdfium2 (Apache/BSD): each page's text layer in reading order, running headers,
footers and page numbers left out; pages without a text layer are rendered and read by OCR.

The document text is the pages' texts joined by a blank line; ``Extracted.pages`` gives each
page's character range, so a passage knows the page it starts and ends on.
"""
from __future__ import annotations

import logging

from ..errors import UnreadableDocument
from . import Extracted, Page, missing
from .pagelines import TextLine, drop_running, page_text, reading_order

log = logging.getLogger("wenda.readers.pdf")

PAGE_SEPARATOR = "\n\n"
OCR_SCALE = 2.0             # 144 dpi: PP-OCR reads body-size CJK reliably from here


def _text_layer(page, textpage) -> list[TextLine]:
    height = page.get_height()
    pieces = []
    for i in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(i)
        text = textpage.get_text_bounded(left, bottom, right, top).replace("\r", "").replace("\n", "")
        if text.strip():
            pieces.append(TextLine(height - top, height - bottom, left, right, text))
    return reading_order(pieces, page.get_width())


def _ocr_page(page) -> list[TextLine]:
    from . import ocr

    image = page.render(scale=OCR_SCALE).to_pil()
    return [TextLine(ln.top / OCR_SCALE, ln.bottom / OCR_SCALE, ln.x0 / OCR_SCALE, ln.x1 / OCR_SCALE, ln.text)
            for ln in ocr.recognise(image)]


def _open(data: bytes):
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:
        raise UnreadableDocument(missing("pypdfium2", "PDF files")) from exc
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise UnreadableDocument("is an encrypted PDF (password protected)") from exc
        raise UnreadableDocument(f"is a damaged PDF ({message.rstrip('.')})") from exc


def read(data: bytes, name: str) -> Extracted:
    pdf = _open(data)
    try:
        pages, heights, scanned, ocr_errors = [], [], [], []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            lines = _text_layer(page, textpage)
            if not lines:
                try:
                    lines = _ocr_page(page)
                    scanned.append(index + 1)
                except UnreadableDocument as exc:
                    ocr_errors.append(str(exc))
            pages.append(lines)
            heights.append(page.get_height())
    except Exception as exc:        # noqa: BLE001 - pdfium raises its own and ctypes errors mid-document
        if isinstance(exc, UnreadableDocument):
            raise
        raise UnreadableDocument(f"is a damaged PDF ({type(exc).__name__}: {exc})") from exc
    finally:
        pdf.close()
    if not pages:
        raise UnreadableDocument("is a PDF without pages")

    parts, ranges, pos = [], [], 0
    for number, lines in enumerate(drop_running(pages, heights), start=1):
        text = page_text(lines)
        if parts:
            parts.append(PAGE_SEPARATOR)
            pos += len(PAGE_SEPARATOR)
        parts.append(text)
        ranges.append(Page(number, pos, pos + len(text)))
        pos += len(text)
    text = "".join(parts)
    if not text.strip():
        if ocr_errors:
            raise UnreadableDocument(f"has no text layer and OCR could not read it: {ocr_errors[0]}")
        raise UnreadableDocument("has no text layer and OCR found no text on its pages")
    notes = (f"pages {', '.join(map(str, scanned))} read by OCR",) if scanned else ()
    return Extracted(text=text, kind="pdf", encoding="", pages=tuple(ranges), notes=notes)
