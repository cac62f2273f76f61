"""Text lines of a laid-out page (a PDF text layer or OCR boxes) -> the page's text in reading
order: lines merged from pieces on one baseline, one or two columns, running headers, footers and
page numbers left out. Coordinates are top-down (y grows downwards), in any unit."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_ASCII_WORD = re.compile(r"[A-Za-z0-9]")
# 3 / - 3 - / 第3页 / 第 3 页 共 10 页 / 3/10 / Page 3 of 10 / iii
_PAGE_NUMBER = re.compile(
    r"^[-–—\s]*(?:第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*(?:/\s*\d+)?|page\s*\d+(?:\s*of\s*\d+)?"
    r"|[ivxlcdm]+)[-–—\s]*$", re.IGNORECASE)
_MARGIN = 0.12          # running headers and footers sit in the top and bottom 12% of a page


@dataclass(frozen=True, slots=True)
class TextLine:
    top: float
    bottom: float
    x0: float
    x1: float
    text: str

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1e-6)


def _same_line(a: TextLine, b: TextLine) -> bool:
    overlap = min(a.bottom, b.bottom) - max(a.top, b.top)
    return overlap > 0.5 * min(a.height, b.height)


def merge_pieces(pieces: list[TextLine]) -> list[TextLine]:
    """Pieces on one baseline (left to right) become one line."""
    lines: list[list[TextLine]] = []
    for piece in sorted(pieces, key=lambda p: (p.top, p.x0)):
        for line in lines:
            if _same_line(line[0], piece):
                line.append(piece)
                break
        else:
            lines.append([piece])
    merged = []
    for parts in lines:
        parts.sort(key=lambda p: p.x0)
        text = parts[0].text
        for prev, part in zip(parts, parts[1:]):
            gap = part.x0 - prev.x1
            wide = gap > 0.8 * min(prev.height, part.height)
            ascii_join = _ASCII_WORD.match(text[-1:] or " ") and _ASCII_WORD.match(part.text[:1] or " ")
            text += (" " if wide or ascii_join else "") + part.text
        merged.append(TextLine(min(p.top for p in parts), max(p.bottom for p in parts),
                               parts[0].x0, parts[-1].x1, text))
    return sorted(merged, key=lambda ln: (ln.top, ln.x0))


def reading_order(pieces: list[TextLine], width: float) -> list[TextLine]:
    """Lines in reading order. A page whose pieces fall on both sides of the middle with a clear
    gutter is read column by column; lines spanning the gutter (titles, tables) stay in place and
    close the columns above them."""
    mid = width / 2
    left = [p for p in pieces if p.x1 <= mid + 0.01 * width]
    right = [p for p in pieces if p.x0 >= mid - 0.01 * width]
    side_by_side = any(_same_line(a, b) for a in left for b in right if a.x1 < b.x0)
    if len(left) < 2 or len(right) < 2 or not side_by_side:
        return merge_pieces(pieces)
    ordered: list[TextLine] = []
    block: list[TextLine] = []

    def flush() -> None:
        ordered.extend(merge_pieces([p for p in block if p.x1 <= mid + 0.01 * width]))
        ordered.extend(merge_pieces([p for p in block if p.x1 > mid + 0.01 * width]))
        block.clear()

    for piece in sorted(pieces, key=lambda p: (p.top, p.x0)):
        spans = piece.x0 < mid - 0.01 * width and piece.x1 > mid + 0.01 * width
        if spans:
            flush()
            ordered.extend(merge_pieces([piece]))
        else:
            block.append(piece)
    flush()
    return ordered


def _running_key(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text))


def drop_running(pages: list[list[TextLine]], heights: list[float]) -> list[list[TextLine]]:
    """Leave out page numbers and the headers and footers repeated on most pages (digits count
    as equal: 「第3期」 and 「第4期」 repeat). Only lines in a page's top or bottom margin qualify."""
    def in_margin(line: TextLine, height: float) -> bool:
        return line.bottom <= _MARGIN * height or line.top >= (1 - _MARGIN) * height

    counts: Counter[str] = Counter()
    for lines, height in zip(pages, heights):
        counts.update({_running_key(ln.text) for ln in lines if in_margin(ln, height)})
    repeated = max(2, (len(pages) + 1) // 2)
    kept = []
    for lines, height in zip(pages, heights):
        kept.append([ln for ln in lines if not (in_margin(ln, height) and (
            _PAGE_NUMBER.match(ln.text) or (len(pages) > 1 and counts[_running_key(ln.text)] >= repeated)))])
    return kept


def page_text(lines: list[TextLine]) -> str:
    """Lines joined by line breaks; a vertical gap of more than a line's height marks a paragraph
    (a blank line), as the chunker expects of extracted text."""
    out: list[str] = []
    prev: TextLine | None = None
    for line in lines:
        if prev is not None:
            gap = line.top - prev.bottom
            out.append("\n\n" if gap > 1.0 * min(prev.height, line.height) else "\n")
        out.append(line.text.strip())
        prev = line
    return "".join(out)
