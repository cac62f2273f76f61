"""`wenda index --backend milvus`: incremental, resumable builds into Milvus, and the copy of a
local index folder into Milvus that reuses its stored vectors.

Milvus has no generation folders to switch atomically, so each document carries its own commit
mark: its row in ``NAME_documents`` is written with an empty sha256 before its passages are
replaced (deleted by ``source``, then upserted) and with the file's sha256 after. A build killed
anywhere leaves documents that are either complete or marked unfinished; the next build redoes the
unfinished ones and deletes what the corpus no longer has, which ends in the rows of a clean build.
The model is recorded in ``NAME_meta`` before the first vector is written and a build with another
model is refused (``--rebuild`` drops the collections first), so vectors of two models never mix.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import vectors as faiss_vectors
from ..build import BuildReport, Builder, IndexSettings, chunk_file, read_corpus
from ..corpus import corpus_root
from ..errors import BadInput, IndexMismatch, IndexMissing
from ..manifest import (CORPUS_KEY, FORMAT_VERSION, GenerationLease, corpus_record, current_generation,
                        read_manifest, verify_files)
from ..progress import NO_PROGRESS, ProgressFactory
from ..records import Document, Passage
from ..store import STORE_FILE, StoreReader
from ..version import VERSION
from .milvus import MilvusStore, Target

log = logging.getLogger("wenda.index")
GROUP_PASSAGES = 256            # passages embedded and written together (one commit step)


@dataclass
class _LocalIndex:
    """The live build of a local index folder, checked and leased while it is copied."""

    manifest: dict
    store: StoreReader
    vectors: object
    lease: GenerationLease

    @classmethod
    def open(cls, index_dir: Path) -> "_LocalIndex":
        gen = current_generation(index_dir)
        lease = GenerationLease(gen)
        try:
            manifest = read_manifest(gen)
            verify_files(gen, manifest)
            return cls(manifest, StoreReader(gen / STORE_FILE), faiss_vectors.load(gen / faiss_vectors.VECTORS_FILE),
                       lease)
        except BaseException:
            lease.release()
            raise

    def close(self) -> None:
        self.store.close()
        self.lease.release()


@dataclass
class _Pending:
    """One document to (re)write: its passages, and their vectors when already known."""

    doc: Document
    passages: list[Passage]
    vectors: np.ndarray | None = None


def mismatch_message(target: Target, meta: dict, name: str, fingerprint: str) -> str:
    built = meta["model"]
    return (f"{target.describe()} holds vectors of model {built['name']} (fingerprint {built['fingerprint']}), "
            f"not of {name} (fingerprint {fingerprint}); re-index it with `wenda index --backend milvus --rebuild`"
            f" or use another --collection")


class MilvusBuilder(Builder):
    """The local Builder's reading, chunking and embedding, written into Milvus."""

    def __init__(self, target: Target, settings: IndexSettings, cache_dir: Path,
                 progress: ProgressFactory = NO_PROGRESS, crash_at_step: int | None = None,
                 threads: int | None = None, embedder=None) -> None:
        super().__init__(Path("."), settings, cache_dir, progress, crash_at_step, threads, embedder)
        self.target = target

    def build(self, paths: list[Path], rebuild: bool = False, wait: bool = False) -> BuildReport:
        started = time.monotonic()
        root = corpus_root(paths)
        store = MilvusStore(self.target)
        try:
            report = self._build(store, paths, root, rebuild)
        finally:
            store.close()
        report.seconds = round(time.monotonic() - started, 3)
        return report

    def _build(self, store: MilvusStore, paths: list[Path], root: Path, rebuild: bool) -> BuildReport:
        if rebuild:
            store.drop()
        from ..embed import canonical_model_name

        model_name, fingerprint = canonical_model_name(self.settings.model), self.model_fingerprint()
        meta = self._meta(store, model_name, fingerprint)
        decoded, skipped = read_corpus(self, paths, root)
        same_chunking = meta is not None and (meta["chunking"], meta["analyzer"]) == (
            self._chunking_record(), self.analyzer.description())
        old = {d["source"]: d for d in store.documents()} if meta is not None else {}
        unchanged = sorted(s for s, f in decoded.items() if same_chunking and old.get(s, {}).get("sha256") == f.sha256)
        to_write = [s for s in sorted(decoded) if s not in unchanged]
        deleted = sorted(s for s in old if s not in decoded)
        report = BuildReport(self.target.describe(), "", added=[s for s in to_write if s not in old],
                             changed=[s for s in to_write if s in old], deleted=deleted, unchanged=len(unchanged),
                             skipped=[{"source": s.source, "reason": s.reason} for s in skipped])
        if meta is not None and not to_write and not deleted and meta.get(CORPUS_KEY) == corpus_record(paths):
            report.up_to_date = True
        else:
            pending = (self._chunked(decoded[s]) for s in to_write)
            meta = self._write(store, meta, pending, deleted, paths, root, report)
        return self._finish(store, report, meta)

    def _meta(self, store: MilvusStore, model_name: str, fingerprint: str) -> dict | None:
        meta = store.read_meta() if store.exists() else None
        if meta is not None and (meta["model"]["name"], meta["model"]["fingerprint"]) != (model_name, fingerprint):
            raise IndexMismatch(mismatch_message(self.target, meta, model_name, fingerprint))
        return meta

    def _chunked(self, f) -> _Pending:
        doc, passages = chunk_file(f, self.settings)
        self._step(f"chunked {doc.source}")
        return _Pending(doc, passages)

    def _write(self, store: MilvusStore, meta: dict | None, pending: Iterator[_Pending], deleted: list[str],
               paths: list[Path], root: Path, report: BuildReport, model: dict | None = None) -> dict:
        """Record the model first, then delete and rewrite documents group by group."""
        model = model or (meta["model"] if meta else self._model_record(None))
        store.create(model["dim"])
        meta = {"format": FORMAT_VERSION, "wenda_version": VERSION, "backend": "milvus", "model": model,
                "chunking": self._chunking_record(), "analyzer": self.analyzer.description(),
                "root": str(root), CORPUS_KEY: corpus_record(paths), "revision": (meta or {}).get("revision", 0) + 1,
                "updated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "vector_index": {"kind": "milvus HNSW", "metric": "cosine"}}
        store.write_meta(meta)
        self._step("meta written")
        for source in deleted:
            store.delete_source(source)
            store.delete_document(source)
            self._step(f"deleted {source}")
        group: list[_Pending] = []
        for item in pending:
            group.append(item)
            if sum(len(g.passages) for g in group) >= GROUP_PASSAGES:
                report.embedded += self._write_group(store, group)
                group = []
        if group:
            report.embedded += self._write_group(store, group)
        meta["revision"] += 1          # serving processes reload on a new revision
        store.write_meta(meta)
        store.flush()
        self._step("meta finished")
        return meta

    def _write_group(self, store: MilvusStore, group: list[_Pending]) -> int:
        store.upsert_documents([(item.doc, len(item.passages)) for item in group], sha256="")  # unfinished until below
        store.delete_sources([item.doc.source for item in group])
        passages = [p for item in group for p in item.passages]
        known = [item.vectors for item in group if item.vectors is not None]
        embedded = 0
        if len(known) == len(group):
            vectors = np.vstack(known) if known else np.zeros((0, 0), np.float32)
        else:
            vectors = self._embed(passages)
            embedded = len(passages)
        words = [self.analyzer.fold(p.clean) for p in passages]
        grams = [self.analyzer.grams(p.clean) for p in passages]
        store.upsert_passages(passages, words, grams, vectors)
        self._step(f"passages written {len(passages)}")
        for item in group:      # one by one: a build killed between them redoes only the rest
            store.upsert_documents([(item.doc, len(item.passages))], drop_stale=False)
            self._step(f"document finished {item.doc.source}")
        return embedded

    def _finish(self, store: MilvusStore, report: BuildReport, meta: dict) -> BuildReport:
        docs = store.documents()
        report.generation = revision_name(self.target, meta)
        report.documents = len(docs)
        report.passages = sum(d["passages"] for d in docs)
        counts: dict[str, int] = {}
        for d in docs:
            counts[d["kind"] or "text"] = counts.get(d["kind"] or "text", 0) + 1
        report.formats = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return report

    # -- the copy of a local index
    def copy_local(self, index_dir: Path, rebuild: bool = False) -> BuildReport:
        """Every document of the local index in ``index_dir`` into Milvus with its stored vectors
        (nothing is embedded); incremental like a build: unchanged documents are left alone."""
        started = time.monotonic()
        local = _LocalIndex.open(index_dir)
        store = MilvusStore(self.target)
        try:
            if rebuild:
                store.drop()
            model = local.manifest["model"]
            meta = self._meta(store, model["name"], model["fingerprint"])
            if local.manifest["chunking"] != self._chunking_record():
                raise BadInput(f"{index_dir} was chunked with other settings than this wenda uses; rebuild it first")
            old = {d["source"]: d for d in store.documents()} if meta is not None else {}
            docs = {d["source"]: d for d in local.store.documents()}
            to_write = sorted(s for s in docs if old.get(s, {}).get("sha256") != docs[s]["sha256"])
            deleted = sorted(s for s in old if s not in docs)
            report = BuildReport(self.target.describe(), "", added=[s for s in to_write if s not in old],
                                 changed=[s for s in to_write if s in old], deleted=deleted,
                                 unchanged=len(docs) - len(to_write))

            def pending() -> Iterator[_Pending]:
                for source in to_write:
                    d = docs[source]
                    stored = local.store.passages_of(source)
                    doc = Document(source, d["title"], local.store.document_text(source), d["sha256"], "",
                                   d["kind"], tuple(local.store.document_pages(source)))
                    vecs = faiss_vectors.reconstruct(local.vectors, [sp.rowid for sp in stored]) if stored \
                        else np.zeros((0, model["dim"]), np.float32)
                    yield _Pending(doc, [sp.passage for sp in stored], vecs)

            corpus = [Path(p) for p in local.manifest.get(CORPUS_KEY) or [local.manifest["root"]]]
            if to_write or deleted or meta is None:
                meta = self._write(store, meta, pending(), deleted, corpus, Path(local.manifest["root"]), report,
                                   model=model)
            else:
                report.up_to_date = True
            report = self._finish(store, report, meta)
        finally:
            store.close()
            local.close()
        report.seconds = round(time.monotonic() - started, 3)
        return report


def revision_name(target: Target, meta: dict) -> str:
    """What names one state of a collection, as a local build folder's name does (GET /api/index)."""
    return f"milvus-{target.collection}-r{meta.get('revision', 0)}"


def recorded_milvus_corpus(target: Target) -> list[Path] | None:
    """The corpus a Milvus collection was built from (None when nothing was built there)."""
    store = MilvusStore(target)
    try:
        meta = store.read_meta() if store.exists() else None
    finally:
        store.close()
    if meta is None:
        return None
    return [Path(p) for p in meta.get(CORPUS_KEY) or []] or None


def require_meta(store: MilvusStore) -> dict:
    meta = store.read_meta() if store.exists() else None
    if meta is None:
        raise IndexMissing(f"nothing is indexed in {store.target.describe()} yet; "
                           f"run `wenda index --backend milvus --milvus-uri {store.target.uri}"
                           f"{'' if store.target.collection == 'wenda' else ' --collection ' + store.target.collection}`")
    return meta
