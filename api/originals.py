"""The original files behind the index: where the corpus folder is (the root the build recorded
in its manifest), and a document's file in it, never a path outside that folder."""
from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path, PurePosixPath

from wenda.indexer.corpus import unsafe_name
from wenda.indexer.errors import NotFound

_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".html": "text/html", ".htm": "text/html", ".xhtml": "application/xhtml+xml",
    ".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
}


def corpus_root(searcher) -> Path:
    """The folder the served index was built from (document ids are relative to it)."""
    root = searcher.index.manifest.get("root")
    if not root:
        raise NotFound("this index does not record its corpus folder; rebuild it with `wenda index`")
    return Path(root)


def inside(root: Path, source: str) -> Path:
    """``root/source``, refused (NotFound) when the name is unsafe or leads outside ``root``."""
    if unsafe_name(source):
        raise NotFound(f"no document {source!r} in this index; see /api/documents")
    real_root = root.resolve()
    path = (real_root / PurePosixPath(source)).resolve()
    if not path.is_relative_to(real_root) or path == real_root:
        raise NotFound(f"no document {source!r} in this index; see /api/documents")
    return path


def content_type(source: str, encoding: str = "") -> str:
    kind = _TYPES.get(PurePosixPath(source).suffix.lower()) or mimetypes.guess_type(source)[0] \
        or "application/octet-stream"
    if kind.startswith("text/") and encoding:
        kind += f"; charset={encoding}"
    return kind


def original(searcher, source: str) -> tuple[bytes, dict]:
    """The bytes of an indexed document's file as it was indexed, and the document's record.
    NotFound when it is not in the index, gone from the folder, or changed since the build."""
    meta, _, _ = searcher.document(source)
    path = inside(corpus_root(searcher), source)
    try:
        data = path.read_bytes()
    except OSError:
        raise NotFound(f"the file of {source!r} is no longer in the corpus folder; run `wenda index`") from None
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise NotFound(f"{source!r} has changed since it was indexed; run `wenda index` (or wait for the "
                       "running build) to see the new version")
    return data, meta
