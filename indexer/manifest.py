"""The index folder: generations, the CURRENT pointer, manifests and their checks.

::

    index/
      CURRENT                  name of the live generation, replaced atomically
      gen-<time>-<id>/         one complete build, never modified after it is switched in
        manifest.json          written last; lists every file's size and sha256
        passages.sqlite
        vectors.faiss
      .lock                    held by the one writer

A reader holds a shared flock on the generation folder it serves (GenerationLease); the builder
removes an old generation only when it can take that lock exclusively, so a folder a running
reader still serves is left for a later build's clean-up.
"""
from __future__ import annotations

import hashlib
import json
import os
import fcntl
import shutil
import tempfile
from pathlib import Path

from .errors import IndexCorrupt, IndexMissing

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
GENERATION_PREFIX = "gen-"
BUILDING_PREFIX = ".building-"
USER_DICT_FILE = "user_dict.txt"      # copy of the jieba user dictionary the build used


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, checkpoint=lambda name: None) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        checkpoint(f"{path.name} written aside")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def file_digest(path: Path) -> dict:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def current_generation(index_dir: Path) -> Path:
    """The live generation folder; IndexMissing when nothing was built, IndexCorrupt when the
    pointer is damaged or names a missing folder."""
    pointer = index_dir / CURRENT_FILE
    if not pointer.exists():
        raise IndexMissing(f"no index in {index_dir}; build one with `wenda index`")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{pointer} is unreadable ({exc}); run `wenda index` to repair the index") from exc
    gen = index_dir / name
    if not name.startswith(GENERATION_PREFIX) or "/" in name or not gen.is_dir():
        raise IndexCorrupt(f"{pointer} points to a missing build {name!r}; run `wenda index` to repair the index")
    return gen


def build_identity(gen: Path) -> tuple:
    """What tells one build from another without reading its files: the folder's name and its
    manifest's inode, size and time (a folder is never rewritten in place)."""
    try:
        st = (gen / MANIFEST_FILE).stat()
    except OSError:
        return (gen.name, None)
    return (gen.name, st.st_ino, st.st_size, st.st_mtime_ns)


def read_manifest(gen: Path) -> dict:
    path = gen / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path} is missing; run `wenda index` to repair the index") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc.__class__.__name__}); run `wenda index` to repair the index") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexCorrupt(f"{path} is not a wenda manifest; run `wenda index` to repair the index")
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorrupt(f"{path} has index format {manifest.get('format')!r}, this wenda reads "
                           f"{FORMAT_VERSION}; run `wenda index --rebuild`")
    return manifest


def verify_files(gen: Path, manifest: dict, full: bool = True) -> None:
    """Check every file the manifest lists: present, same size and (when ``full``) same sha256."""
    for name, expected in sorted(manifest["files"].items()):
        path = gen / name
        if not path.is_file():
            raise IndexCorrupt(f"{path} is missing; run `wenda index` to repair the index")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexCorrupt(f"{path} has {size} bytes, the manifest says {expected.get('bytes')} "
                               "(truncated or from another build); run `wenda index` to repair the index")
        if full and file_digest(path)["sha256"] != expected.get("sha256"):
            raise IndexCorrupt(f"{path} does not match its checksum in the manifest (damaged or from "
                               "another build); run `wenda index` to repair the index")


class GenerationLease:
    """A shared flock on a generation folder, held while a reader serves it. flock locks belong
    to the open file, so they also keep a builder in the same process from removing the folder."""

    def __init__(self, gen: Path) -> None:
        self.generation = gen
        try:
            self._fd: int | None = os.open(gen, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise IndexCorrupt(f"{gen} cannot be opened ({exc.strerror or exc}); run `wenda index` to repair the index") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:         # a builder holds it exclusively: it is being removed
            self.release()
            raise IndexCorrupt(f"{gen} is being removed by `wenda index`; it is not the live build") from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)          # closing drops the lock
            self._fd = None


def remove_generation_unless_held(gen: Path) -> bool:
    """Delete an old generation folder unless a reader holds its lease; True when removed."""
    try:
        fd = os.open(gen, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(gen, ignore_errors=True)
        return not gen.exists()
    finally:
        os.close(fd)
