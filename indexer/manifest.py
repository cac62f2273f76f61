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

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import tempfile
from pathlib import Path

from .errors import IndexCorrupt, IndexMissing

FORMAT_VERSION = 2           # 2: the lean store (indexer/store.py); 1 is refused with the --rebuild hint
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
GENERATION_PREFIX = "gen-"
BUILDING_PREFIX = ".building-"
USER_DICT_FILE = "user_dict.txt"      # copy of the jieba user dictionary the build used
DEFAULT_INDEX_DIR = Path("index")     # where `wenda index` writes when given no --index-dir
CORPUS_KEY = "corpus"                 # manifest: the corpus roots, absolute, as the build was given them


def corpus_record(paths: list[Path]) -> list[str]:
    """The corpus roots as recorded in a manifest: absolute, but as given (links not resolved)."""
    return [os.path.abspath(p) for p in paths]


def manifest_corpus(manifest: dict) -> list[Path] | None:
    """The corpus a manifest was built from; older manifests only name the common root."""
    recorded = manifest.get(CORPUS_KEY)
    if isinstance(recorded, list) and recorded and all(isinstance(p, str) for p in recorded):
        return [Path(p) for p in recorded]
    root = manifest.get("root")
    return [Path(root)] if isinstance(root, str) and root else None


def index_command(index_dir: Path, corpus: list[Path] | None = None, extra: str = "") -> str:
    """The `wenda index` command line that rebuilds *this* index (from ``corpus`` when given)."""
    words = ["wenda", "index", *(shlex.quote(str(p)) for p in corpus or [])]
    if extra:
        words.append(extra)
    if Path(os.path.abspath(index_dir)) != Path(os.path.abspath(DEFAULT_INDEX_DIR)):
        words += ["--index-dir", shlex.quote(os.path.abspath(index_dir))]
    return " ".join(words)


def repair_hint(index_dir: Path, manifest: dict | None = None, extra: str = "") -> str:
    """"run `wenda index ...` to repair the index", naming this index and, when the manifest
    can tell, the corpus it was built from."""
    corpus = manifest_corpus(manifest) if isinstance(manifest, dict) else None
    return f"run `{index_command(index_dir, corpus, extra)}` to repair the index"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file written without fsync (the store, the vector file) before it is switched in."""
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
    """What the manifest records of a written file: size, sha256 of every byte, and the cheap
    fingerprint an open checks instead of re-reading the file (``quick_fingerprint``)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest(), **quick_fingerprint(path)}


_SAMPLE_BLOCK = 4096
_SAMPLE_BLOCKS = 32     # spread over the file, plus its first and last blocks


def quick_fingerprint(path: Path) -> dict:
    """The file's mtime and a hash of 34 blocks of 4 KB spread over it: read in well under a
    millisecond whatever the size, where a full sha256 of a 10^6-passage index reads 10 GB."""
    stat = path.stat()
    digest = hashlib.sha256(str(stat.st_size).encode())
    with open(path, "rb") as fh:
        last = max(0, stat.st_size - _SAMPLE_BLOCK)
        for i in range(_SAMPLE_BLOCKS + 2):
            fh.seek(0 if i == 0 else last if i == 1 else (stat.st_size * (i - 1)) // (_SAMPLE_BLOCKS + 1))
            digest.update(fh.read(_SAMPLE_BLOCK))
    return {"mtime_ns": stat.st_mtime_ns, "sample": digest.hexdigest()}


def current_generation(index_dir: Path) -> Path:
    """The live generation folder; IndexMissing when nothing was built, IndexCorrupt when the
    pointer is damaged or names a missing folder."""
    pointer = index_dir / CURRENT_FILE
    if not pointer.exists():
        raise IndexMissing(f"no index in {index_dir}; build one with `{index_command(index_dir, extra='[PATH ...]')}`")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{pointer} is unreadable ({exc}); {repair_hint_from_disk(index_dir)}") from exc
    gen = index_dir / name
    if not name.startswith(GENERATION_PREFIX) or "/" in name or not gen.is_dir():
        raise IndexCorrupt(f"{pointer} points to a missing build {name!r}; {repair_hint_from_disk(index_dir)}")
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
        raise IndexCorrupt(f"{path} is missing; {repair_hint_from_disk(gen.parent)}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc.__class__.__name__}); {repair_hint_from_disk(gen.parent)}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexCorrupt(f"{path} is not a wenda manifest; {repair_hint_from_disk(gen.parent)}")
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorrupt(f"{path} has index format {manifest.get('format')!r}, this wenda reads "
                           f"{FORMAT_VERSION}; run `{index_command(gen.parent, manifest_corpus(manifest), '--rebuild')}`")
    return manifest


def _readable_manifest(gen: Path) -> dict | None:
    try:
        manifest = json.loads((gen / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def recorded_corpus(index_dir: Path) -> list[Path] | None:
    """The corpus the index in ``index_dir`` was built from: the live build's, else (when the
    live manifest is damaged) the newest other build's. None when nothing was ever built there."""
    gens = sorted((p for p in index_dir.glob(f"{GENERATION_PREFIX}*") if p.is_dir()), reverse=True)
    try:    # read the pointer here, not with current_generation: its errors' messages come from here
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
        live = [index_dir / name] if name.startswith(GENERATION_PREFIX) and "/" not in name else []
    except (OSError, UnicodeDecodeError):
        live = []
    for gen in live + gens:
        corpus = manifest_corpus(_readable_manifest(gen) or {})
        if corpus:
            return corpus
    return None


def repair_hint_from_disk(index_dir: Path) -> str:
    """The repair hint for a file of the index in ``index_dir`` when no manifest is at hand."""
    try:
        corpus = recorded_corpus(index_dir)
    except OSError:
        corpus = None
    if corpus:
        return f"run `{index_command(index_dir, corpus)}` to repair the index"
    return f"run `{index_command(index_dir, extra='PATH')}` (the folders it indexed) to repair the index"


def verify_files(gen: Path, manifest: dict, full: bool = True) -> None:
    """Check every file the manifest lists: present, same size, and then

    - ``full``: the same sha256 (every byte read: `wenda index --verify`, the builder, and a
      server's background check);
    - else the quick fingerprint: same mtime and sampled hash. A file whose mtime moved (it was
      written to, or copied without its times) gets the full sha256 instead, so a changed file is
      still refused before it serves; manifests older than the fingerprint get the full check too.
    """
    hint = repair_hint(gen.parent, manifest)
    for name, expected in sorted(manifest["files"].items()):
        path = gen / name
        if not path.is_file():
            raise IndexCorrupt(f"{path} is missing; {hint}")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexCorrupt(f"{path} has {size} bytes, the manifest says {expected.get('bytes')} "
                               f"(truncated or from another build); {hint}")
        if not full and "sample" in expected:
            now = quick_fingerprint(path)
            if now["mtime_ns"] == expected.get("mtime_ns"):
                if now["sample"] != expected["sample"]:
                    raise IndexCorrupt(f"{path} does not match its fingerprint in the manifest (damaged); {hint}")
                continue
        if file_digest(path)["sha256"] != expected.get("sha256"):
            raise IndexCorrupt(f"{path} does not match its checksum in the manifest (damaged or from "
                               f"another build); {hint}")


def verify_index(index_dir: Path) -> dict:
    """The full check of the live build of ``index_dir`` (`wenda index --verify`)."""
    gen = current_generation(index_dir)
    manifest = read_manifest(gen)
    verify_files(gen, manifest, full=True)
    files = sorted(manifest["files"])
    return {"index_dir": str(index_dir), "generation": gen.name, "files": files,
            "bytes": sum(manifest["files"][name]["bytes"] for name in files)}


class GenerationLease:
    """A shared flock on a generation folder, held while a reader serves it. flock locks belong
    to the open file, so they also keep a builder in the same process from removing the folder."""

    def __init__(self, gen: Path) -> None:
        self.generation = gen
        try:
            self._fd: int | None = os.open(gen, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise IndexCorrupt(f"{gen} cannot be opened ({exc.strerror or exc}); {repair_hint_from_disk(gen.parent)}") from exc
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
