"""Finding the corpus files and reading each with the reader its content needs.

Readers (``indexer/readers/``) turn file bytes into the document text that citations index into;
a file no reader can use is skipped with a one-line reason, never stopping the build.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BadInput, UnreadableDocument
from .readers import Extracted, docx, html, ocr, pdf, text
from .readers.sniff import EXTENSIONS, reader_kind

log = logging.getLogger("wenda.corpus")

SUFFIXES = tuple(EXTENSIONS)
_READERS = {"text": text.read, "pdf": pdf.read, "image": ocr.read, "docx": docx.read, "html": html.read}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path          # absolute path on disk
    source: str         # path relative to the indexed root, "/"-separated: the document id


@dataclass(frozen=True, slots=True)
class DecodedFile:
    source: str
    extracted: Extracted
    sha256: str

    @property
    def text(self) -> str:
        return self.extracted.text

    @property
    def encoding(self) -> str:
        return self.extracted.encoding


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str
    reason: str


def corpus_root(paths: list[Path]) -> Path:
    """The folder document ids are relative to: the folder given, a file's folder, or the
    deepest folder containing all given paths."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise BadInput(f"path does not exist: {missing[0]}")
    folders = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    return Path(os.path.commonpath([str(f) for f in folders]))


def discover(paths: list[Path], root: Path) -> tuple[list[SourceFile], list[Skipped]]:
    """Every file of a readable extension under the paths, sorted by document id. Hidden entries are ignored;
    symlinks that lead outside the root are refused (a corpus must not quote other files)."""
    found: dict[str, SourceFile] = {}
    skipped: list[Skipped] = []
    root = root.resolve()

    def consider(path: Path) -> None:
        rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
        real = path.resolve()
        if not real.is_relative_to(root):
            skipped.append(Skipped(rel, "a link that points outside the indexed folder"))
            return
        if real.is_file() and path.suffix.lower() in SUFFIXES:
            problem = unsafe_name(rel)
            if problem:
                skipped.append(Skipped(ascii(rel)[1:-1], problem))
            else:
                found[rel] = SourceFile(path=real, source=rel)

    for given in paths:
        if given.is_file():
            consider(given)
            continue
        for dirpath, dirnames, filenames in os.walk(given, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    consider(Path(dirpath) / name)
    return [found[k] for k in sorted(found)], skipped


def unsafe_name(source: str) -> str | None:
    """Why a document id cannot be used (it names files for the index, the API and the page),
    or None: control characters, an absolute path, a ``..`` part, a backslash."""
    if not source or source.startswith("/") or "\\" in source:
        return "file name is empty, absolute or has a backslash"
    if _CONTROL.search(source):
        return "file name has control characters"
    if ".." in PurePosixPath(source).parts:
        return "file name has a '..' part"
    return None


def read_bytes(source: str, data: bytes) -> DecodedFile | Skipped:
    """The document a file's bytes hold, read by the reader its content needs."""
    if not data:
        return Skipped(source, "is empty")
    try:
        extracted = _READERS[reader_kind(data, source)](data, source)
    except UnreadableDocument as exc:
        return Skipped(source, str(exc))
    if not extracted.text.strip():
        return Skipped(source, "holds no text")
    return DecodedFile(source, extracted, hashlib.sha256(data).hexdigest())


def read_source(src: SourceFile, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> DecodedFile | Skipped:
    try:
        size = src.path.stat().st_size
        if size > max_bytes:
            return Skipped(src.source, f"too large ({size / 2**20:.1f} MB > limit "
                                       f"{max_bytes / 2**20:.0f} MB; raise --max-file-mb to index it)")
        data = src.path.read_bytes()
    except OSError as exc:
        return Skipped(src.source, f"cannot be read ({exc.strerror or exc})")
    return read_bytes(src.source, data)


def strip_surrogates(text: str) -> str:
    """Remove lone surrogates (possible in JSON input such as "\\ud800"), which cannot be encoded."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(ch for ch in text if not "\ud800" <= ch <= "\udfff")
