"""Typed records produced by the indexer. They are the citations: every field is checkable
against the source file."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def passage_key(source: str, paragraph: int) -> str:
    """The public passage id of the contract: ``<source>#<paragraph>``."""
    return f"{source}#{paragraph}"


def passage_rowid(passage_id: str) -> int:
    """A stable positive 63-bit integer for a passage id.

    Used as the SQLite rowid and the FAISS id, so the same passage gets the same number in every
    build (incremental or clean) and files from two builds can be compared row by row.
    """
    digest = hashlib.blake2b(passage_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True, slots=True)
class Document:
    source: str            # path relative to the indexed root, "/"-separated
    title: str
    text: str              # the document text a reader extracted (offsets point into it)
    sha256: str            # of the file's bytes
    encoding: str          # of the file's bytes: "utf-8", "gb18030"; "" for binary formats
    kind: str = "text"     # the reader: "text", "pdf", "image", "docx", "html"
    pages: tuple[tuple[int, int, int], ...] = ()   # PDFs: (page, start, end) of each page in text


@dataclass(frozen=True, slots=True)
class Passage:
    source: str
    title: str
    section: tuple[str, ...]   # heading path above the passage, outermost first
    paragraph: int             # 1-based ordinal of the passage in its document
    start: int                 # character offsets into the decoded file text
    end: int
    text: str                  # == document text[start:end], exactly
    clean: str                 # what is embedded and indexed: body lines joined, captions left out
    spans: tuple[tuple[int, int], ...] = field(default=())  # the body segments inside [start, end)
    pages: tuple[tuple[int, int, int], ...] = field(default=())  # PDFs: (page, start, end) parts of [start, end)

    @property
    def page(self) -> int | None:
        """The 1-based PDF page the passage starts on (None outside PDFs)."""
        return self.pages[0][0] if self.pages else None

    @property
    def page_end(self) -> int | None:
        return self.pages[-1][0] if self.pages else None

    def pages_of(self, start: int, end: int) -> tuple[int, int] | None:
        """(first, last) page of a sub-span [start, end) of the passage, e.g. an answer's sentence."""
        inside = [page for page, s, e in self.pages if s < max(end, start + 1) and e > start]
        return (inside[0], inside[-1]) if inside else None

    @property
    def passage_id(self) -> str:
        return passage_key(self.source, self.paragraph)

    @property
    def rowid(self) -> int:
        return passage_rowid(self.passage_id)
