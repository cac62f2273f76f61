"""Opening a built index for reading: every file checked against the manifest first, so a
damaged or mixed index is refused instead of served.

Everything a reader needs is opened at load (the store's connections, the vectors in memory) and
the generation folder is leased (indexer/manifest.py GenerationLease): a build's clean-up leaves a
leased folder alone, and even a removed folder could not break the handles already open. The
lease and the handles are released when the last reference to the LoadedIndex goes (in-flight
calls keep theirs), not at a reload, so a switch never pulls a store from under a request."""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import fnmatch
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from wenda.indexer import vectors
from wenda.indexer.core_watch import WATCH
from wenda.indexer.errors import BadInput, IndexCorrupt
from wenda.indexer.manifest import (USER_DICT_FILE, GenerationLease, current_generation, read_manifest,
                                   repair_hint, verify_files)
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.indexer.tokens import Analyzer

from .lexical import ViewScores, view_scores
from .question import pos_tagger

log = logging.getLogger("wenda.search")


@dataclass
class LoadedIndex:
    index_dir: Path
    generation: Path
    manifest: dict
    store: StoreReader
    vectors: object          # faiss.IndexIDMap2
    analyzer: Analyzer
    lease: GenerationLease | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, _release, self.store, self.lease)
        self._halves = vectors.halves(self.vectors)

    @classmethod
    def open(cls, index_dir: Path, full_check: bool = False, generation: Path | None = None) -> "LoadedIndex":
        """The live generation of ``index_dir`` (or the given one of it), checked and opened."""
        gen = generation or current_generation(index_dir)
        lease = GenerationLease(gen)        # before reading anything: the folder stays while we load
        store = None
        try:
            manifest = read_manifest(gen)
            verify_files(gen, manifest, full=full_check)
            store = StoreReader(gen / STORE_FILE)
            if store.meta.get("generation") != manifest.get("generation"):
                raise IndexCorrupt(f"{gen / STORE_FILE} belongs to build {store.meta.get('generation')!r}, the "
                                   f"manifest to {manifest.get('generation')!r}; {repair_hint(index_dir, manifest)}")
            expected = manifest["counts"]["passages"]
            if store.passage_count != expected:
                raise IndexCorrupt(f"{gen / STORE_FILE} holds {store.passage_count} passages, the manifest says "
                                   f"{expected}; {repair_hint(index_dir, manifest)}")
            # FAISS reads the vector index without the GIL (1.1 s for the 10^6 HNSW graph) while
            # jieba loads its dictionary and POS tagger (0.6 + 0.4 s, which the first question
            # needs) on this thread. Generations never change: the vectors are mapped.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wenda-open") as pool:
                loading = pool.submit(vectors.load, gen / vectors.VECTORS_FILE, mapped=True)
                user_dict = gen / USER_DICT_FILE
                analyzer = Analyzer(user_dict if user_dict.exists() else None)
                analyzer.warm()
                pos_tagger(analyzer)
                index = loading.result()
            if index.ntotal != expected or index.d != manifest["model"]["dim"]:
                raise IndexCorrupt(f"{gen / vectors.VECTORS_FILE} holds {index.ntotal} vectors of dimension "
                                   f"{index.d}, expected {expected} of {manifest['model']['dim']}; "
                                   f"{repair_hint(index_dir, manifest)}")
            store.analyzer = analyzer       # phrases of jieba tokens tokenise passages the index's way
        except BaseException:
            _release(store, lease)
            raise
        return cls(index_dir, gen, manifest, store, index, analyzer, lease)

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    def close(self) -> None:
        """Release the store and the lease now (otherwise when the last reference goes)."""
        self._finalizer()

    # -- the SearchBackend of search/backend.py
    @property
    def half_vectors(self) -> bool:
        return vectors.kind_of(self.vectors) != "flat"

    def allowed(self, doc: str | None) -> np.ndarray | None:
        if not doc:
            return None
        ids = self.store.rowids_matching(doc)
        if not ids:
            sources = [d["source"] for d in self.store.documents()]
            if not any(fnmatch.fnmatchcase(s, doc) for s in sources):
                raise BadInput(f"no indexed document matches --doc {doc!r} (see `wenda info` for the sources)")
        return np.array(ids, dtype=np.int64)

    def dense(self, queries: np.ndarray, depth: int, allowed: np.ndarray | None,
              spread: bool = False) -> tuple[np.ndarray, np.ndarray]:
        # One FAISS thread for a few queries: splitting one exact search over OpenMP threads took
        # 26-34 ms at 10^5 vectors against 6.4 ms on one thread with the other core busy at all
        # (bench/results.md); batches take the BLAS path, where threads pay.
        threads = WATCH.threads()
        vectors.set_threads(threads if len(queries) >= 20 else 1)
        if spread and threads > 1 and len(queries) < 20 and allowed is None and self._halves is not None:
            return vectors.search(self._halves, queries, depth)      # the other core is free: both halves at once
        return vectors.search(self.vectors, queries, depth, allowed)

    def lexical(self, view: str, query: str, terms: list[str], depth: int, doc: str | None,
                allowed: np.ndarray | None) -> ViewScores:
        return view_scores(self.store, view, terms, depth, doc, allowed)

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        return vectors.reconstruct(self.vectors, ids)

    def term_in_corpus(self, grams: list[str], ignore_source: str | None = None) -> bool:
        return self.store.holds_phrase(" ".join(grams), "grams", outside=ignore_source)

    def known_grams(self, grams: list[str]) -> dict[str, int] | None:
        post = self.store.postings("grams")
        return None if post is None else post.passage_counts(grams)

    def verify_full(self) -> None:
        verify_files(self.generation, self.manifest, full=True)


def _release(store: StoreReader | None, lease: GenerationLease | None) -> None:
    if store is not None:
        store.close()
    if lease is not None:
        lease.release()
