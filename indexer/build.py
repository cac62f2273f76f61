"""Building an index: scan -> chunk -> tokenise -> embed -> write, as one crash-safe pipeline.

A build writes a new generation folder beside the live one and switches the CURRENT pointer
atomically at the very end, so readers see the old index or the new one, never a mix, and a
killed build leaves the previous index working. Unchanged documents are carried over (passages
and vectors) from the previous generation; only new or changed files are chunked and embedded.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import vectors
from .chunker import ChunkSettings, chunk_document
from .corpus import DEFAULT_MAX_FILE_BYTES, SUFFIXES, DecodedFile, Skipped, corpus_root, discover, read_source
from .errors import BadInput, IndexBusy, IndexCorrupt, IndexMissing, WendaError
from .manifest import (BUILDING_PREFIX, CORPUS_KEY, CURRENT_FILE, FORMAT_VERSION, GENERATION_PREFIX, MANIFEST_FILE,
                       USER_DICT_FILE, corpus_record, current_generation, file_digest, fsync_dir, fsync_file,
                       index_command, read_manifest, recorded_corpus, remove_generation_unless_held, repair_hint, verify_files,
                       write_atomic)
from .progress import NO_PROGRESS, ProgressFactory
from .records import Document, Passage
from .store import STORE_FILE, StoreReader, copy_documents, create_store, finish_store, insert_document, insert_passages
from .tokens import Analyzer
from .version import VERSION

log = logging.getLogger("wenda.index")

LOCK_FILE = ".lock"



@dataclass(frozen=True)
class IndexSettings:
    """Everything that decides what a build produces (recorded in the manifest)."""

    chunking: ChunkSettings = ChunkSettings()
    model: str | None = None                 # None = the bundled multilingual-e5-small
    embed_context: bool = True               # embed "title · section · text" rather than the text alone
    user_dict: Path | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    batch_size: int = 32
    hnsw_threshold: int = vectors.DEFAULT_HNSW_THRESHOLD
    half_threshold: int = vectors.DEFAULT_HALF_THRESHOLD     # float16 vectors from this many on
    # "auto": bfloat16 matrix products where the CPU has them natively (1.7x the passages per second,
    # cosine 0.99999 to float32: bench/embed_throughput.md), else float32; or "float32"/"bfloat16".
    # Recorded in the manifest; vectors of either kind mix, so a change does not re-embed.
    embed_precision: str = "auto"


@dataclass
class BuildReport:
    index_dir: str
    generation: str
    up_to_date: bool = False
    documents: int = 0
    passages: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    embedded: int = 0
    skipped: list[dict] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)    # documents per reader: {"pdf": 3, "docx": 1, ...}
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def embedding_text(p: Passage, with_context: bool) -> str:
    """What the model sees for a passage. The title and section path give a paragraph the
    context its own words often lack ("the district" -> which district)."""
    if not with_context:
        return p.clean
    head = " · ".join([p.title, *p.section])
    return f"{head}\n{p.clean}"


class WriterLock:
    """One writer per index folder (fcntl lock on ``.lock``); readers never take it."""

    def __init__(self, index_dir: Path, wait: bool = False) -> None:
        self.path = index_dir / LOCK_FILE
        self.wait = wait
        self._fh = None

    def __enter__(self) -> "WriterLock":
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            raise IndexBusy(f"another `wenda index` ({holder}) is writing {self.path.parent}; "
                            "wait for it to finish (or pass --wait)") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        self._fh.seek(0)
        self._fh.truncate()
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


class Builder:
    def __init__(self, index_dir: Path, settings: IndexSettings, cache_dir: Path,
                 progress: ProgressFactory = NO_PROGRESS, crash_at_step: int | None = None,
                 threads: int | None = None, embedder=None) -> None:
        self.index_dir = index_dir
        self.settings = settings
        self.cache_dir = cache_dir
        self.progress = progress
        self.crash_at_step = crash_at_step
        self.threads = threads
        self._embedder = embedder
        self._step_count = 0
        self._analyzer: Analyzer | None = None
        self._embedded_precision: str | None = None     # set when this build embeds passages

    # -- fault injection: tests kill the build at step N to prove crash safety
    def _step(self, name: str) -> None:
        self._step_count += 1
        if self.crash_at_step is not None and self._step_count == self.crash_at_step:
            log.warning("fault injection: killing the build at step %d (%s)", self._step_count, name)
            os.kill(os.getpid(), signal.SIGKILL)

    @property
    def analyzer(self) -> Analyzer:
        if self._analyzer is None:
            self._analyzer = Analyzer(self.settings.user_dict)
        return self._analyzer

    def model_fingerprint(self) -> str:
        if self._embedder is not None:
            return self._embedder.fingerprint
        from .embed import model_fingerprint

        return model_fingerprint(self.settings.model, self.cache_dir)

    def embedder(self):
        if self._embedder is None:
            from .embed import Embedder

            self._embedder = Embedder.load(self.settings.model, self.cache_dir, threads=self.threads)
        return self._embedder

    def build(self, paths: list[Path], rebuild: bool = False, wait: bool = False) -> BuildReport:
        started = time.monotonic()
        root = corpus_root(paths)
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            probe = self.index_dir / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise WendaError(f"cannot write to the index folder {self.index_dir} "
                             f"({exc.strerror or exc}); choose another with --index-dir") from exc
        with WriterLock(self.index_dir, wait=wait):
            report = self._build_locked(paths, root, rebuild)
        report.seconds = round(time.monotonic() - started, 3)
        return report

    # -- the pipeline
    def _build_locked(self, paths: list[Path], root: Path, rebuild: bool) -> BuildReport:
        self._remove_stale_builds()
        decoded, skipped = read_corpus(self, paths, root)

        previous, old_manifest = self._previous_generation(rebuild)
        from .embed import canonical_model_name    # here: embed.py is not needed by every caller of build.py

        model_name = canonical_model_name(self.settings.model)   # what manifests record
        reusable = (old_manifest is not None
                    and old_manifest["model"]["name"] == model_name
                    and old_manifest["model"]["fingerprint"] == self.model_fingerprint()
                    and old_manifest["chunking"] == self._chunking_record()
                    and old_manifest["analyzer"] == self.analyzer.description())
        old_sources = old_manifest["sources"] if reusable else {}
        unchanged = sorted(s for s, d in decoded.items() if old_sources.get(s, {}).get("sha256") == d.sha256)
        added = sorted(s for s in decoded if s not in old_sources)
        changed = sorted(s for s in decoded if s in old_sources and s not in unchanged)
        deleted = sorted(s for s in old_sources if s not in decoded)
        report = BuildReport(str(self.index_dir), previous.name if previous else "",
                             added=added, changed=changed, deleted=deleted, unchanged=len(unchanged),
                             skipped=[{"source": s.source, "reason": s.reason} for s in skipped])
        if (reusable and not (added or changed or deleted) and old_manifest.get("root") == str(root)
                and old_manifest.get(CORPUS_KEY) == corpus_record(paths)):
            report.up_to_date = True
            report.documents = old_manifest["counts"]["documents"]
            report.passages = old_manifest["counts"]["passages"]
            report.formats = dict(old_manifest["counts"].get("formats", {}))
            return report

        gen_name = f"{GENERATION_PREFIX}{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        building = self.index_dir / f"{BUILDING_PREFIX}{gen_name}"
        building.mkdir()
        try:
            manifest = self._write_generation(building, root, paths, decoded, unchanged,
                                              previous if reusable else None, old_manifest if reusable else None)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        final = self.index_dir / gen_name
        os.rename(building, final)
        fsync_dir(self.index_dir)
        self._step("renamed")
        write_atomic(self.index_dir / CURRENT_FILE, f"{gen_name}\n".encode(), self._step)
        self._step("switched")
        self._remove_old_generations(keep={gen_name, previous.name if previous else ""})
        self._step("old builds removed")
        report.generation = gen_name
        report.documents = manifest["counts"]["documents"]
        report.passages = manifest["counts"]["passages"]
        report.embedded = manifest["counts"]["embedded_this_build"]
        report.formats = dict(manifest["counts"]["formats"])
        return report

    def _chunking_record(self) -> dict:
        return {**self.settings.chunking.as_dict(), "embed_context": self.settings.embed_context}

    def _previous_generation(self, rebuild: bool) -> tuple[Path | None, dict | None]:
        """The live generation and its manifest when it is healthy enough to reuse."""
        try:
            gen = current_generation(self.index_dir)
        except IndexMissing:
            return None, None
        except IndexCorrupt as exc:
            log.warning("%s; building a fresh index", exc)
            return None, None
        if rebuild:
            return gen, None
        try:
            manifest = read_manifest(gen)
            verify_files(gen, manifest)
        except IndexCorrupt as exc:
            log.warning("%s; rebuilding everything", exc)
            return gen, None
        return gen, manifest

    def _write_generation(self, out: Path, root: Path, paths: list[Path], decoded: dict[str, DecodedFile],
                          unchanged: list[str], previous: Path | None, old_manifest: dict | None) -> dict:
        settings = self.settings
        to_chunk = [s for s in sorted(decoded) if s not in unchanged]
        new_docs: list[Document] = []
        new_passages: list[Passage] = []
        bar = self.progress("chunking", len(to_chunk))
        for source in to_chunk:
            doc, passages = chunk_file(decoded[source], settings)
            new_docs.append(doc)
            new_passages.extend(passages)
            bar.update(1)
            self._step(f"chunked {source}")
        bar.close()

        bar = self.progress("tokenising", len(new_passages))
        tokens, grams = [], []
        for p in new_passages:
            tokens.append(self.analyzer.tokens(p.clean))
            grams.append(self.analyzer.grams(p.clean))
            bar.update(1)
        bar.close()
        self._step("tokenised")

        new_vectors = self._embed(new_passages)

        store_meta = {"format": str(FORMAT_VERSION), "generation": out.name.removeprefix(BUILDING_PREFIX)}
        conn = create_store(out / STORE_FILE, store_meta)
        try:
            if unchanged and previous is not None:
                copy_documents(conn, previous / STORE_FILE, unchanged)
                self._step("unchanged documents copied")
            for doc in new_docs:
                insert_document(conn, doc)
                self._step(f"stored {doc.source}")
            insert_passages(conn, new_passages, tokens, grams)
            conn.commit()
            self._step("passages stored")
            finish_store(conn, self._step)
        except sqlite3.Error as exc:
            conn.close()
            raise WendaError(f"writing {out / STORE_FILE} failed: {exc}") from exc
        self._step("store finished")

        file_names = [STORE_FILE, vectors.VECTORS_FILE]
        if settings.user_dict is not None:     # the searcher must segment queries the same way
            shutil.copyfile(settings.user_dict, out / USER_DICT_FILE)
            file_names.append(USER_DICT_FILE)

        ids, vecs, dim = self._all_vectors(out, previous, new_passages, new_vectors, old_manifest)
        index = vectors.build(ids, vecs, dim, settings.hnsw_threshold, settings.half_threshold)
        vectors.save(index, out / vectors.VECTORS_FILE)
        fsync_file(out / vectors.VECTORS_FILE)
        self._step("vectors written")

        reader = StoreReader(out / STORE_FILE)
        docs = reader.documents()
        reader.close()
        model_info = self._model_record(old_manifest)
        manifest = {
            "format": FORMAT_VERSION,
            "wenda_version": VERSION,
            "generation": out.name.removeprefix(BUILDING_PREFIX),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "root": str(root),
            CORPUS_KEY: corpus_record(paths),     # what a later `wenda index` without PATH updates
            "model": model_info,
            "chunking": self._chunking_record(),
            "analyzer": self.analyzer.description(),
            "vector_index": {"kind": vectors.kind_of(index), "metric": "inner_product",
                             "half_threshold": settings.half_threshold, "hnsw_threshold": settings.hnsw_threshold,
                             "embedding_precision": self._precision_record(old_manifest)},
            "sources": {d["source"]: {"sha256": d["sha256"], "title": d["title"], "chars": d["chars"],
                                      "passages": d["passages"]} for d in docs},
            "counts": {"documents": len(docs), "passages": int(len(ids)),
                       "embedded_this_build": len(new_passages), "formats": _formats(docs)},
            "files": {name: file_digest(out / name) for name in file_names},
        }
        write_atomic(out / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False, indent=2).encode(), self._step)
        self._step("manifest written")
        return manifest

    def _half_precision(self) -> bool:
        """Passages are embedded with bfloat16 matrix products (IndexSettings.embed_precision)."""
        from wenda.indexer.embed import PRECISIONS

        wanted = self.settings.embed_precision
        if wanted not in PRECISIONS:
            raise BadInput(f"the embedding precision must be one of {', '.join(PRECISIONS)}, not {wanted!r}")
        return wanted != "float32" and self.embedder().half_available

    def _precision_record(self, old_manifest: dict | None) -> str:
        """How this build embedded its new passages; with none, how the previous build did."""
        used = self._embedded_precision
        if used is None and old_manifest is not None:
            used = old_manifest.get("vector_index", {}).get("embedding_precision")
        return used or "float32"

    def _embed(self, passages: list[Passage]) -> np.ndarray:
        if not passages:
            return np.zeros((0, 0), dtype=np.float32)
        embedder = self.embedder()
        texts = [embedding_text(p, self.settings.embed_context) for p in passages]
        bar = self.progress("embedding", len(texts))
        size = self.settings.batch_size * 4     # one progress step / crash point per few batches
        parts = []
        half = self._half_precision()
        self._embedded_precision = "bfloat16" if half else "float32"
        for i in range(0, len(texts), size):
            parts.append(embedder.encode_documents(texts[i:i + size], batch_size=self.settings.batch_size,
                                                   half=half))
            bar.update(len(texts[i:i + size]))
            self._step(f"embedded {i + len(parts[-1])}")
        bar.close()
        return np.vstack(parts).astype(np.float32)

    def _model_record(self, old_manifest: dict | None) -> dict:
        if self._embedder is None and old_manifest is not None:
            return old_manifest["model"]        # nothing new was embedded: same model as before
        e = self.embedder()
        return {"name": e.name, "fingerprint": e.fingerprint, "dim": e.dim,
                "max_seq_length": e.max_seq_length}

    def _all_vectors(self, out: Path, previous: Path | None, new_passages: list[Passage],
                     new_vectors: np.ndarray, old_manifest: dict | None) -> tuple[np.ndarray, np.ndarray, int]:
        """Vectors of every passage in the new store: carried over for unchanged documents."""
        reader = StoreReader(out / STORE_FILE)
        all_ids = np.array(sorted(reader.all_rowids()), dtype=np.int64)
        reader.close()
        new_ids = np.array([p.rowid for p in new_passages], dtype=np.int64)
        dim = new_vectors.shape[1] if len(new_passages) else (old_manifest["model"]["dim"] if old_manifest
                                                              else self.embedder().dim)
        carried = np.setdiff1d(all_ids, new_ids)
        parts_ids, parts_vecs = [new_ids], [new_vectors.reshape(len(new_ids), dim)]
        if len(carried):
            old_index = vectors.load(previous / vectors.VECTORS_FILE)
            missing = np.setdiff1d(carried, vectors.stored_ids(old_index))
            if len(missing):
                raise IndexCorrupt(f"{previous / vectors.VECTORS_FILE} lacks {len(missing)} passages of its store; "
                                   f"{repair_hint(self.index_dir, old_manifest, '--rebuild')}")
            parts_ids.append(carried)
            parts_vecs.append(vectors.reconstruct(old_index, carried))
        ids = np.concatenate(parts_ids)
        order = np.argsort(ids, kind="stable")
        return ids[order], np.vstack(parts_vecs)[order], dim

    def _remove_stale_builds(self) -> None:
        """Folders of builds that were killed: we hold the lock, so nobody else is writing them."""
        for entry in self.index_dir.iterdir():
            if entry.name.startswith(BUILDING_PREFIX) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f".{CURRENT_FILE}.") or entry.name.startswith(".write-test-"):
                entry.unlink(missing_ok=True)

    def _remove_old_generations(self, keep: set[str]) -> None:
        """Keep the new and the previous generation, and any other that a running reader still
        holds (GenerationLease): a later build removes those once they are released."""
        for entry in self.index_dir.iterdir():
            if entry.name.startswith(GENERATION_PREFIX) and entry.is_dir() and entry.name not in keep:
                if not remove_generation_unless_held(entry):
                    log.info("kept %s: a reader still serves it", entry.name)


def read_corpus(builder: "Builder", paths: list[Path], root: Path) -> tuple[dict[str, DecodedFile], list[Skipped]]:
    """The readable files under ``paths`` by source, and the skipped ones with their reasons."""
    files, skipped = discover(paths, root)
    builder._step("discovered")
    decoded: dict[str, DecodedFile] = {}
    bar = builder.progress("reading", len(files))
    for src in files:
        result = read_source(src, builder.settings.max_file_bytes)
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            decoded[result.source] = result
        bar.update(1)
    bar.close()
    for s in skipped:
        log.warning("skipped %s: %s", s.source, s.reason)
    builder._step("read")
    if not decoded:
        raise BadInput(f"no indexable text under {', '.join(map(str, paths))} "
                       f"(looked for {', '.join(SUFFIXES)} files)")
    return decoded, skipped


def chunk_file(f: DecodedFile, settings: IndexSettings) -> tuple[Document, list[Passage]]:
    """A read file as its Document and passages."""
    x = f.extracted
    title, passages = chunk_document(f.source, x.text, settings.chunking, headings=x.headings,
                                     paragraph_ends=x.paragraph_ends, pages=x.pages, title=x.title)
    if not passages:
        log.warning("skipped %s: no paragraphs of text found", f.source)
    return Document(f.source, title, x.text, f.sha256, x.encoding, x.kind,
                    tuple((p.page, p.start, p.end) for p in x.pages)), passages


def corpus_to_index(index_dir: Path, given: list[Path], default: list[Path]) -> list[Path]:
    """The paths a build of ``index_dir`` indexes: those given; else the corpus recorded in the
    index's manifest; else, for a folder where nothing was ever built, ``default`` (the seeds).
    A damaged index whose corpus cannot be read is refused rather than rebuilt from the default."""
    if given:
        return given
    recorded = recorded_corpus(index_dir)
    if recorded is None:
        never_built = not (index_dir / CURRENT_FILE).exists() and not any(index_dir.glob(f"{GENERATION_PREFIX}*"))
        if never_built:
            return default
        raise BadInput(f"the index in {index_dir} is damaged and does not say which folders it indexed; "
                       f"give them: `{index_command(index_dir, extra='PATH ...')}`")
    gone = [p for p in recorded if not p.exists()]
    if gone:
        raise BadInput(f"{gone[0]}, recorded as the corpus of the index in {index_dir}, no longer exists; "
                       f"give the folders to index: `{index_command(index_dir, extra='PATH ...')}`")
    return recorded


def _formats(docs: list[dict]) -> dict[str, int]:
    """Documents per reader kind, most first."""
    counts: dict[str, int] = {}
    for d in docs:
        counts[d.get("kind") or "text"] = counts.get(d.get("kind") or "text", 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_index(paths: list[Path], index_dir: Path, settings: IndexSettings, cache_dir: Path,
                rebuild: bool = False, progress: ProgressFactory = NO_PROGRESS,
                crash_at_step: int | None = None, threads: int | None = None, wait: bool = False,
                embedder=None) -> BuildReport:
    """Build or update the index in ``index_dir`` from the files under ``paths``."""
    builder = Builder(index_dir, settings, cache_dir, progress, crash_at_step, threads, embedder)
    return builder.build(paths, rebuild=rebuild, wait=wait)

