"""Building the text of a document whose structure is known (Word, HTML): one line per paragraph,
heading or table row, with the headings and paragraph ends recorded for the chunker."""
from __future__ import annotations

import re

from ..errors import UnreadableDocument
from . import Extracted, Heading

_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u3000]+")


def squeeze(text: str) -> str:
    """Inline whitespace (source line breaks, non-breaking spaces) collapsed to one space."""
    return _SPACE.sub(" ", text).strip()


class StructuredText:
    def __init__(self) -> None:
        self._lines: list[str] = []
        self._pos = 0
        self._headings: list[Heading] = []
        self._ends: set[int] = set()

    def heading(self, text: str, level: int) -> None:
        self._add(text, level)

    def paragraph(self, text: str) -> None:
        self._add(text, None)

    def _add(self, text: str, level: int | None) -> None:
        text = squeeze(text)
        if not text:
            return
        if self._lines:
            self._pos += 1          # the "\n" before this line
        start, end = self._pos, self._pos + len(text)
        self._lines.append(text)
        self._pos = end
        if level is None:
            self._ends.add(end)
        else:
            self._headings.append(Heading(start, end, level))

    def build(self, kind: str, encoding: str, title: str | None, empty_reason: str) -> Extracted:
        if not self._lines:
            raise UnreadableDocument(empty_reason)
        if not self._ends:
            raise UnreadableDocument(empty_reason + " (only headings)")
        return Extracted(text="\n".join(self._lines), kind=kind, encoding=encoding, title=title,
                         headings=tuple(self._headings), paragraph_ends=frozenset(self._ends))
