"""Chinese paragraphing: from a decoded file to passages with exact offsets.

1. ``layout`` classifies lines (headings, captions, bylines, body).
2. Body lines are joined into logical paragraphs: a line that does not end its sentence
   continues on the next body line, even across blank lines and an interposed caption.
3. Paragraphs longer than ``max_chars`` are split at sentence ends (then clause marks, then jieba
   word boundaries); passages shorter than ``min_chars`` are merged with a neighbour in the same
   section.

Each passage keeps ``text == file_text[start:end]``; ``clean`` (what gets embedded and indexed)
drops line breaks inside sentences and any caption that sat inside the span.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from .layout import CLAUSE_BOUNDARY, SENTENCE_BOUNDARY, Kind, Line, classify, ends_sentence, is_strict_heading, split_lines
from .readers import Heading, Page
from .records import Passage


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    """Passage sizes in characters of clean text. Defaults chosen by ``bench/chunking.py``."""

    max_chars: int = 1000
    min_chars: int = 60
    heading_max_chars: int = 30

    def as_dict(self) -> dict:
        return asdict(self)


_ASCII_WORD = re.compile(r"[A-Za-z0-9]")
_KNOWN_LEVEL = re.compile(r"^h\d$")


@dataclass(slots=True)
class _Para:
    """A logical paragraph: body segments (file offsets) and its clean text."""

    section: tuple[str, ...]
    segments: list[tuple[int, int]]
    clean: str
    clean_starts: list[int]     # where each segment begins in ``clean``

    def add(self, start: int, end: int, text: str, new_line: bool = False) -> None:
        if new_line and self.clean:
            self.clean += "\n"
        elif self.clean and _ASCII_WORD.match(self.clean[-1]) and _ASCII_WORD.match(text[0]):
            self.clean += " "       # wrapped English keeps its word gap
        self.clean_starts.append(len(self.clean))
        self.segments.append((start, end))
        self.clean += text

    def to_file(self, pos: int) -> int:
        """File offset of the clean character at ``pos`` (a character of a segment)."""
        for (start, end), cstart in zip(reversed(self.segments), reversed(self.clean_starts)):
            if pos >= cstart:
                return start + min(pos - cstart, end - start - 1)
        return self.segments[0][0]


@dataclass(slots=True)
class _Piece:
    section: tuple[str, ...]
    start: int
    end: int
    clean: str
    spans: list[tuple[int, int]]


def chunk_document(source: str, text: str, settings: ChunkSettings = ChunkSettings(), *,
                   headings: Sequence[Heading] | None = None, paragraph_ends: frozenset[int] = frozenset(),
                   pages: Sequence[Page] = (), title: str | None = None) -> tuple[str, list[Passage]]:
    """(title, passages) for one document's text.

    ``headings`` and ``paragraph_ends`` are the structure a reader knows (Word, HTML): then those
    headings alone make the section path, and each listed line end closes its paragraph. ``pages``
    (PDFs) give each passage the pages it lies on."""
    lines = split_lines(text)
    found_title = classify(lines, settings.heading_max_chars)
    if headings is not None:
        found_title = _apply_headings(lines, headings)
    title = title or found_title or PurePosixPath(source).stem
    paragraphs = _paragraphs(lines, paragraph_ends)
    pieces = [piece for para in paragraphs for piece in _split(para, settings.max_chars)]
    pieces = _merge_short(pieces, settings)
    passages = [
        Passage(source=source, title=title, section=p.section, paragraph=i,
                start=p.start, end=p.end, text=text[p.start:p.end], clean=p.clean, spans=tuple(p.spans),
                pages=tuple((pg.page, max(pg.start, p.start), min(pg.end, p.end))
                            for pg in pages if pg.start < p.end and pg.end > p.start))
        for i, p in enumerate(pieces, start=1)
    ]
    return title, passages


def _apply_headings(lines: list[Line], headings: Sequence[Heading]) -> str | None:
    """Known headings replace the guessed ones; level 0 is the title. Returns the title."""
    levels = {h.start: h.level for h in headings}
    title = None
    for line in lines:
        level = levels.get(line.start)
        if level == 0:
            line.kind = Kind.TITLE
            title = title or line.text
        elif level is not None:
            line.kind, line.style, line.heading = Kind.HEADING, f"h{level}", line.text
        elif line.kind in (Kind.HEADING, Kind.TITLE, Kind.CAPTION):
            line.kind = Kind.BODY       # short lines (table rows, list items) are content here
    return title


def _paragraphs(lines: list[Line], paragraph_ends: frozenset[int] = frozenset()) -> list[_Para]:
    styles: list[str] = []              # heading styles by first appearance = outline levels
    section: list[str] = []
    known: list[tuple[int, str]] = []   # (level, heading) of a reader's open headings
    paras: list[_Para] = []
    current: _Para | None = None        # the paragraph whose last sentence is still open
    heading: Line | None = None         # the heading right above the next paragraph

    for line in lines:
        kind = line.kind
        if kind in (Kind.TITLE, Kind.CAPTION, Kind.BYLINE):
            heading = None              # don't stretch a passage over a caption to reach its heading
            continue                    # an open sentence may resume after a caption
        if kind is Kind.HEADING and current is not None and not is_strict_heading(line):
            kind = Kind.BODY            # a short punctuated line after an open sentence is its tail
        if kind is Kind.HEADING:
            if _KNOWN_LEVEL.match(line.style):
                # a reader's h1..h6: the open headings of higher levels stay above this one
                level = int(line.style[1:])
                known = [(lv, h) for lv, h in known if lv < level] + [(level, line.heading)]
                section = [h for _, h in known]
            else:
                # guessed styles rank by first appearance
                if line.style not in styles:
                    styles.append(line.style)
                level = styles.index(line.style)
                section = section[:level] + [line.heading]
            current, heading = None, line
            continue
        after_heading = False
        if current is None or kind is Kind.LABELLED:
            current = _Para(tuple(section), [], "", [])
            paras.append(current)
            if heading is not None:
                # The heading opens the passage too: it is quotable ("1. 缺乏系统性顶层设计。")
                # and its words are searchable where the body only implies them.
                offset = heading.text.rfind(heading.heading)     # without markdown's "###"
                current.add(heading.start + offset, heading.start + offset + len(heading.heading), heading.heading)
                after_heading = True
        heading = None
        current.add(line.start, line.end, line.text, new_line=after_heading)
        if kind is Kind.LABELLED or ends_sentence(line.text) or line.end in paragraph_ends:
            current = None
    return paras


def _cuts_in(clean: str, lo: int, hi: int, level: int) -> list[int]:
    """Positions strictly inside (lo, hi) where a passage may be cut: after sentence ends
    (level 0), after clause marks (level 1), between jieba words (level 2)."""
    if level < 2:
        pattern = SENTENCE_BOUNDARY if level == 0 else CLAUSE_BOUNDARY
        return [lo + m.end() for m in pattern.finditer(clean, lo, hi) if lo < lo + m.end() < hi]
    import jieba  # deferred: loading its dictionary takes a second

    cuts, pos = [], lo
    for word in jieba.cut(clean[lo:hi], HMM=False):
        pos += len(word)
        if pos < hi:
            cuts.append(pos)
    return cuts


def _pack(lo: int, hi: int, cuts: list[int], max_chars: int) -> list[tuple[int, int]]:
    """Cut [lo, hi) at some of ``cuts`` into ranges of about equal length, each within
    max_chars where the cuts allow it (a range with no usable cut stays long)."""
    ranges, start = [], lo
    while hi - start > max_chars:
        pieces_left = -(-(hi - start) // max_chars)
        ideal = start + (hi - start) / pieces_left
        reachable = [c for c in cuts if start < c <= start + max_chars]
        if reachable:
            cut = min(reachable, key=lambda c: abs(c - ideal))
        else:
            later = [c for c in cuts if c > start]
            if not later:
                break
            cut = later[0]
        ranges.append((start, cut))
        start = cut
    ranges.append((start, hi))
    return ranges


def _split(para: _Para, max_chars: int) -> list[_Piece]:
    clean = para.clean
    ranges = [(0, len(clean))]
    for level in range(3):
        refined = []
        for lo, hi in ranges:
            if hi - lo <= max_chars:
                refined.append((lo, hi))
            else:
                refined.extend(_pack(lo, hi, _cuts_in(clean, lo, hi, level), max_chars))
        ranges = refined
    pieces = []
    for lo, hi in ranges:
        while lo < hi and clean[lo].isspace():
            lo += 1
        while hi > lo and clean[hi - 1].isspace():
            hi -= 1
        if lo < hi:
            start, end = para.to_file(lo), para.to_file(hi - 1) + 1
            spans = [(max(s, start), min(e, end)) for s, e in para.segments if s < end and e > start]
            pieces.append(_Piece(para.section, start, end, clean[lo:hi], spans))
    return pieces


def _merge_short(pieces: list[_Piece], settings: ChunkSettings) -> list[_Piece]:
    """Fold passages under min_chars into a neighbour of the same section while the result
    stays within max_chars: first backwards into the previous one, else forwards."""
    out: list[_Piece] = []
    pending: _Piece | None = None       # a short piece waiting to be joined to the next
    for piece in pieces:
        if pending is not None:
            if pending.section == piece.section and len(pending.clean) + len(piece.clean) <= settings.max_chars:
                piece = _join(pending, piece)
            else:
                out.append(pending)
            pending = None
        if len(piece.clean) < settings.min_chars:
            prev = out[-1] if out else None
            if prev and prev.section == piece.section and len(prev.clean) + len(piece.clean) <= settings.max_chars:
                out[-1] = _join(prev, piece)
                continue
            pending = piece
            continue
        out.append(piece)
    if pending is not None:
        out.append(pending)
    return out


def _join(a: _Piece, b: _Piece) -> _Piece:
    return _Piece(a.section, a.start, b.end, a.clean + "\n" + b.clean, a.spans + b.spans)
