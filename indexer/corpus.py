"""Finding and decoding the corpus files.

Files are read as bytes and decoded without newline translation, so character offsets into the
decoded text are offsets into what the user sees in an editor (a UTF-8 byte-order mark is dropped).
"""
from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput

log = logging.getLogger("wenda.corpus")

SUFFIXES = (".txt", ".md")
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path          # absolute path on disk
    source: str         # path relative to the indexed root, "/"-separated: the document id


@dataclass(frozen=True, slots=True)
class DecodedFile:
    source: str
    text: str
    sha256: str
    encoding: str


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
    """Every .txt/.md file under the paths, sorted by document id. Hidden entries are ignored;
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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_text(text: str) -> bool:
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
        if _looks_like_text(text):
            return text, "utf-8" if encoding == "utf-8-sig" else encoding
    return None


def read_source(src: SourceFile, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> DecodedFile | Skipped:
    try:
        size = src.path.stat().st_size
        if size > max_bytes:
            return Skipped(src.source, f"too large ({size / 2**20:.1f} MB > limit "
                                       f"{max_bytes / 2**20:.0f} MB; raise --max-file-mb to index it)")
        data = src.path.read_bytes()
    except OSError as exc:
        return Skipped(src.source, f"cannot be read ({exc.strerror or exc})")
    decoded = decode_bytes(data)
    if decoded is None:
        return Skipped(src.source, "is neither UTF-8 nor GB18030 text (binary or undecodable bytes)")
    text, encoding = decoded
    if not text.strip():
        return Skipped(src.source, "holds no text")
    return DecodedFile(src.source, text, hashlib.sha256(data).hexdigest(), encoding)


def strip_surrogates(text: str) -> str:
    """Remove lone surrogates (possible in JSON input such as "\\ud800"), which cannot be encoded."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(ch for ch in text if not "\ud800" <= ch <= "\udfff")
