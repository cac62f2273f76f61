"""Sentences and clauses of a passage, with exact file offsets.

Works on the passage's clean text (broken lines joined, captions out) and maps each piece back
to offsets in the source file through the passage's body spans, so an answer sentence cites the
characters it came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from wenda.indexer.layout import CLAUSE_BOUNDARY, CLOSERS, SENTENCE_STOPS
from wenda.indexer.records import Passage

# The sentence stops of indexer/layout.py, and the line breaks a passage's clean text keeps for list
# items and table rows. Not the English full stop the chunker also splits long paragraphs at: inside
# Chinese text it is mostly initials and abbreviations (J. K. 罗琳), and splitting answer sentences at it
# took CMRC 2018 trial answers from 806 to 801 right of 1,000 (`wenda eval`, float32 index).
_SENTENCE_END = re.compile(rf"[{re.escape(SENTENCE_STOPS)}]+[{re.escape(CLOSERS)}]*|\n+")


@dataclass(frozen=True, slots=True)
class Sentence:
    passage: Passage
    index: int              # position in the passage
    clean: str              # display text: no line breaks inside
    start: int              # file offsets of the first and after the last character
    end: int
    lo: int                 # the same piece as offsets into passage.clean
    hi: int


def clean_offsets(p: Passage) -> list[int]:
    """File offset of every character of ``p.clean`` (-1 for joiners that are not in the file)."""
    offsets = [-1] * len(p.clean)
    pos = 0
    text_start = p.start
    for s, e in p.spans:
        piece = p.text[s - text_start:e - text_start]
        found = p.clean.find(piece, pos)
        if found < 0:       # spans always appear in order; defensive for hand-made passages
            continue
        for j in range(len(piece)):
            offsets[found + j] = s + j
        pos = found + len(piece)
    if not p.spans:         # a passage without span records: clean == text
        offsets = list(range(p.start, p.start + len(p.clean)))
    return offsets


def _pieces(text: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    """[lo, hi) ranges of ``text`` cut after each match of ``pattern``, whitespace trimmed."""
    out, lo = [], 0
    for m in pattern.finditer(text):
        out.append((lo, m.end()))
        lo = m.end()
    out.append((lo, len(text)))
    trimmed = []
    for a, b in out:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            trimmed.append((a, b))
    return trimmed


def _file_span(offsets: list[int], lo: int, hi: int) -> tuple[int, int] | None:
    real = [o for o in offsets[lo:hi] if o >= 0]
    return (real[0], real[-1] + 1) if real else None


def split_sentences(p: Passage) -> list[Sentence]:
    offsets = clean_offsets(p)
    out = []
    for lo, hi in _pieces(p.clean, _SENTENCE_END):
        span = _file_span(offsets, lo, hi)
        if span:
            out.append(Sentence(p, len(out), p.clean[lo:hi], *span, lo, hi))
    return out


def sentence_texts(text: str) -> list[str]:
    """The sentences of a plain text, as split_sentences cuts a passage (no offsets: cheaper)."""
    cut = _SENTENCE_END.sub(lambda m: m.group() + "\x00", text).split("\x00")
    return [piece for piece in (c.strip() for c in cut) if piece]


def clauses(sentence: Sentence) -> list[Sentence]:
    """The sentence cut at commas and semicolons (for answers that must stay short)."""
    p = sentence.passage
    offsets = clean_offsets(p)
    out = []
    for lo, hi in _pieces(sentence.clean, CLAUSE_BOUNDARY):
        lo, hi = sentence.lo + lo, sentence.lo + hi
        span = _file_span(offsets, lo, hi)
        if span:
            out.append(Sentence(p, sentence.index, p.clean[lo:hi], *span, lo, hi))
    return out or [sentence]


def join(parts: list[Sentence]) -> Sentence:
    """Adjacent pieces of one passage as one piece (the citation covers all of them)."""
    first, last = parts[0], parts[-1]
    p = first.passage
    return Sentence(p, first.index, p.clean[first.lo:last.hi], first.start, last.end, first.lo, last.hi)
