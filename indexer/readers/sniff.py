"""Which reader a file needs, from its first bytes (magic numbers, HTML markup), checked against
its name's extension: a .pdf that is text, or a .txt that is a zip, is refused, not guessed at."""
from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from ..errors import UnreadableDocument

EXTENSIONS = {
    ".txt": "text", ".md": "text", ".markdown": "text",
    ".pdf": "pdf", ".png": "image", ".jpg": "image", ".jpeg": "image",
    ".docx": "docx", ".html": "html", ".htm": "html", ".xhtml": "html",
}
_NAMES = {"text": "plain text", "pdf": "a PDF", "image": "an image", "docx": "a Word .docx", "html": "HTML",
          "zip": "a zip archive", "ole": "a legacy Office (.doc/.xls) file", "binary": "unrecognised binary data"}


def content_kind(data: bytes) -> str:
    """"pdf", "docx", "zip", "image", "ole", "html", "text" or "binary"."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff"):
        return "image"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return "docx" if "word/document.xml" in zf.namelist() else "zip"
        except (zipfile.BadZipFile, EOFError, ValueError):
            return "zip"
    from .html import looks_like_html

    if looks_like_html(head.decode("utf-8", errors="ignore")):
        return "html"
    from .text import decode_bytes

    return "text" if decode_bytes(data[:65536]) is not None or decode_bytes(data) is not None else "binary"


def reader_kind(data: bytes, name: str) -> str:
    """The reader for this file; raises UnreadableDocument when content and extension disagree."""
    expected = EXTENSIONS.get(PurePosixPath(name).suffix.lower())
    found = content_kind(data)
    # HTML and plain text are both text: a .html without markup is read as HTML, a .txt holding
    # markup is the text its author saved
    if expected == "html" and found == "text" or expected == "text" and found == "html":
        return expected
    if expected == "docx" and found == "zip":
        return "docx"       # the docx reader says what is wrong with this zip
    if expected is None:
        raise UnreadableDocument(f"has an extension wenda does not read (content looks like {_NAMES[found]})")
    if found != expected:
        raise UnreadableDocument(f"content is {_NAMES[found]} but the name says {PurePosixPath(name).suffix.lower()}")
    return found
