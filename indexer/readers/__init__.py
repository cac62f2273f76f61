"""Readers: one module per file format, each ``read(data: bytes, name: str) -> Extracted``.

A reader knows nothing of chunking. It returns the document's text (what citations index into),
the character range of each page (PDFs), and the structure it knows for certain (headings and
paragraph ends of Word and HTML files), so the chunker need not guess it from the lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Page:
    page: int           # 1-based page number
    start: int          # character range of the page's text in Extracted.text
    end: int


@dataclass(frozen=True, slots=True)
class Heading:
    start: int          # the heading's line in Extracted.text
    end: int
    level: int          # 1 = outermost section; 0 = the document's title (not a section)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a reader makes of one file."""

    text: str
    kind: str                                   # "text", "pdf", "image", "docx", "html"
    encoding: str = "utf-8"                     # of the bytes, for text and HTML; "" for binary formats
    title: str | None = None                    # where the format names one (docx core title, <title>)
    pages: tuple[Page, ...] = ()                # PDFs only
    headings: tuple[Heading, ...] | None = None  # None: not known, the chunker reads the lines
    paragraph_ends: frozenset[int] = field(default_factory=frozenset)  # line ends that close a paragraph
    notes: tuple[str, ...] = ()                 # e.g. "pages 3, 4 read by OCR"


def missing(package: str, what: str) -> str:
    """The one-line reason for a reader whose optional library is not installed."""
    return f"needs {package} to read {what}: pip install 'wenda[documents]'"
