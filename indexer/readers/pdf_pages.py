"""One page of an indexed PDF, for showing it: the page as a PNG image, and the boxes of a cited
passage on it (so a viewer can mark the passage on the page image).

The document text is the reader's cleaned text (running headers left out, lines joined), so the
cited characters are found again in the page's text layer by their non-space characters; each
run of found characters on one line becomes one box. Boxes are fractions of the page's width and
height, measured from its top-left corner, so they fit the image at any scale.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from ..errors import NotFound, UnreadableDocument
from .pdf import _open

RENDER_SCALE = 2.0          # 144 dpi: body text stays sharp on a high-density screen


@dataclass(frozen=True, slots=True)
class Box:
    left: float             # fractions of the page, from its top-left corner
    top: float
    right: float
    bottom: float

    def as_list(self) -> list[float]:
        return [round(self.left, 5), round(self.top, 5), round(self.right, 5), round(self.bottom, 5)]


def page_count(data: bytes) -> int:
    pdf = _open(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def _page(pdf, number: int):
    if not 1 <= number <= len(pdf):
        raise NotFound(f"the PDF has {len(pdf)} pages; there is no page {number}")
    return pdf[number - 1]


def render_png(data: bytes, number: int, scale: float = RENDER_SCALE) -> bytes:
    """Page ``number`` (1-based) as PNG bytes."""
    pdf = _open(data)
    try:
        page = _page(pdf, number)
        try:
            image = page.render(scale=scale).to_pil()
        except Exception as exc:  # noqa: BLE001 - pdfium's own and ctypes errors
            raise UnreadableDocument(f"page {number} cannot be rendered ({type(exc).__name__})") from exc
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return out.getvalue()
    finally:
        pdf.close()


def _find(haystack: str, needle: str, start: int = 0) -> int:
    return haystack.find(needle, start) if needle else -1


def _matched_chars(chars: list[str], cited: str) -> list[int]:
    """Indices into the page's characters that spell ``cited`` (spaces aside): the whole passage
    where it occurs as one run, else each of its lines in order (columns, moved captions)."""
    kept = [i for i, ch in enumerate(chars) if not ch.isspace()]
    hay = "".join(chars[i] for i in kept)
    needle = "".join(ch for ch in cited if not ch.isspace())
    at = _find(hay, needle)
    if at >= 0:
        return kept[at:at + len(needle)]
    found, pos = [], 0
    for line in cited.splitlines():
        piece = "".join(ch for ch in line if not ch.isspace())
        at = _find(hay, piece, pos)
        if at < 0:
            at = _find(hay, piece)
        if at >= 0:
            found.extend(kept[at:at + len(piece)])
            pos = at + len(piece)
    return found


def _line_boxes(rects: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Character boxes (left, top, right, bottom; top-down) merged into one box per line run."""
    merged: list[list[float]] = []
    for left, top, right, bottom in rects:
        if merged:
            m = merged[-1]
            height = min(m[3] - m[1], bottom - top) or 1.0
            overlap = min(m[3], bottom) - max(m[1], top)
            if overlap > 0.5 * height and left >= m[0] - height:
                m[0], m[1], m[2], m[3] = min(m[0], left), min(m[1], top), max(m[2], right), max(m[3], bottom)
                continue
        merged.append([left, top, right, bottom])
    return [tuple(m) for m in merged]


def cited_boxes(data: bytes, number: int, cited: str) -> tuple[list[Box], float, float]:
    """The boxes of ``cited`` (text of the document on page ``number``) on that page, and the
    page's width and height in points. No boxes where the page has no text layer (a scan)."""
    pdf = _open(data)
    try:
        page = _page(pdf, number)
        width, height = page.get_width(), page.get_height()
        textpage = page.get_textpage()
        import pypdfium2.raw as raw

        count = textpage.count_chars()
        chars = [chr(raw.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(count)]
        rects = []
        for i in _matched_chars(chars, cited):
            left, bottom, right, top = textpage.get_charbox(i)
            if right > left and top > bottom:
                rects.append((left, height - top, right, height - bottom))
        boxes = [Box(max(0.0, l / width), max(0.0, t / height), min(1.0, r / width), min(1.0, b / height))
                 for l, t, r, b in _line_boxes(rects)]
        return boxes, width, height
    finally:
        pdf.close()
