"""Plain text and markdown: UTF-8 (byte-order mark dropped) or GB18030, decoded without newline
translation, so offsets are offsets into what the user sees in an editor."""
from __future__ import annotations

import unicodedata

from ..errors import UnreadableDocument
from . import Extracted


def looks_like_text(text: str) -> bool:
    """Reject decodings that are mostly control or private-use characters (binary data that
    happens to be valid GB18030, which accepts most byte sequences)."""
    sample = text[:20000]
    if not sample:
        return True
    bad = 0
    for ch in sample:
        cat = unicodedata.category(ch)
        if (cat == "Cc" and ch not in "\n\r\t\f") or cat in ("Co", "Cn", "Cs"):
            bad += 1
    return bad <= max(2, len(sample) // 100)


def decode_bytes(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) for UTF-8 (BOM allowed) or GB18030 bytes, else None."""
    if b"\x00" in data[:8192]:
        return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if looks_like_text(text):
            return text, "utf-8" if encoding == "utf-8-sig" else encoding
    return None


def read(data: bytes, name: str) -> Extracted:
    decoded = decode_bytes(data)
    if decoded is None:
        raise UnreadableDocument("is neither UTF-8 nor GB18030 text (binary or undecodable bytes)")
    text, encoding = decoded
    if not text.strip():
        raise UnreadableDocument("holds no text")
    return Extracted(text=text, kind="text", encoding=encoding)
