"""The searcher's view of a Milvus collection (indexer/backends/milvus.py): dense and BM25
candidates from Milvus, everything after them (fusion, answers, refusal) in search/ as for the
local backend."""
from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from wenda.indexer.backends.milvus import MilvusStore, Target, _quote, glob_filter, gram_token, like_literal
from wenda.indexer.backends.milvus_build import require_meta, revision_name
from wenda.indexer.errors import BadInput
from wenda.indexer.store import StoredPassage
from wenda.indexer.tokens import Analyzer, match_terms

_FIELDS = {"words": "words_bm25", "grams": "grams_bm25"}


class MilvusPassages:
    """The PassageReader of search/backend.py over the passages and documents collections."""

    def __init__(self, store: MilvusStore) -> None:
        self._store = store
        self._documents: list[dict] | None = None

    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, StoredPassage]:
        ids = list(dict.fromkeys(int(r) for r in rowids))
        return {sp.rowid: sp for sp in self._store.passages(f"id in {ids}")} if ids else {}

    def passage_by_id(self, passage_id: str) -> StoredPassage | None:
        found = self._store.passages(f"passage_id == {_quote(passage_id)}", limit=1)
        return found[0] if found else None

    def passages_of(self, source: str, first: int = 1, last: int | None = None) -> list[StoredPassage]:
        where = f"source == {_quote(source)} and paragraph >= {int(first)}"
        if last is not None:
            where += f" and paragraph <= {int(last)}"
        return sorted(self._store.passages(where), key=lambda sp: sp.passage.paragraph)

    def documents(self) -> list[dict]:
        if self._documents is None:        # one revision's list; a new revision is a new MilvusIndex
            self._documents = [{k: d[k] for k in ("source", "title", "chars", "sha256", "kind", "passages")}
                               for d in self._store.documents() if d["sha256"]]
        return [dict(d) for d in self._documents]

    def document_text(self, source: str) -> str | None:
        return self._store.document_text(source)

    def document_pages(self, source: str) -> list[tuple[int, int, int]]:
        rows = self._store.call("query", self._store.target.documents,
                                filter=f"source == {_quote(source)} and part == 0", output_fields=["pages"])
        return [tuple(p) for p in json.loads(rows[0]["pages"])] if rows else []


@dataclass
class MilvusLexical:
    """One BM25 view's top for a query, and the scores of other candidates fetched on demand."""

    store: MilvusStore
    field: str
    text: str
    top_ids: np.ndarray
    top_scores: np.ndarray
    known: dict[int, float] = field(default_factory=dict)

    def among(self, rowids: np.ndarray) -> np.ndarray:
        known = self.known or dict(zip(self.top_ids.tolist(), self.top_scores.tolist()))
        missing = [r for r in rowids.tolist() if r not in known]
        if missing and self.text:
            hits = self.store.search(self.field, [self.text], len(missing), filter=f"id in {missing}")[0]
            known.update(hits)
        self.known = known
        return np.array([known.get(r, 0.0) for r in rowids.tolist()], dtype=np.float64)


class MilvusIndex:
    """A SearchBackend (search/backend.py) over one wenda collection of a Milvus."""

    def __init__(self, store: MilvusStore, meta: dict, analyzer: Analyzer) -> None:
        self._milvus = store
        self.target = store.target
        self.analyzer = analyzer
        self.store = MilvusPassages(store)
        self.revision = meta.get("revision", 0)
        documents = self.store.documents()
        self.manifest = {**meta, "counts": {"documents": len(documents),
                                            "passages": sum(d["passages"] for d in documents)}}
        self.generation = PurePosixPath(revision_name(self.target, meta))
        self.index_dir = PurePosixPath(self.target.uri)

    @classmethod
    def open(cls, target: Target) -> "MilvusIndex":
        store = MilvusStore(target)
        try:
            meta = require_meta(store)
            store.load()
        except BaseException:
            store.close()
            raise
        analyzer = Analyzer()
        analyzer.warm()
        return cls(store, meta, analyzer)

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    @property
    def half_vectors(self) -> bool:
        return False

    def allowed(self, doc: str | None) -> str | None:
        if not doc:
            return None
        sources = [d["source"] for d in self.store.documents()]
        if not any(fnmatch.fnmatchcase(s, doc) for s in sources):
            raise BadInput(f"no indexed document matches --doc {doc!r} (see `wenda info` for the sources)")
        return glob_filter(doc, lambda: sources)

    def dense(self, queries: np.ndarray, depth: int, allowed: str | None,
              spread: bool = False) -> tuple[np.ndarray, np.ndarray]:
        results = self._milvus.search("vector", [q.tolist() for q in queries], depth, filter=allowed or "",
                                      params={"ef": max(2 * depth, 200)})
        scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), depth), -1, dtype=np.int64)
        for i, hits in enumerate(results):
            for j, (rowid, score) in enumerate(hits[:depth]):
                ids[i, j], scores[i, j] = rowid, score
        return scores, ids

    def lexical(self, view: str, query: str, terms: list[str], depth: int, doc: str | None,
                allowed: str | None) -> MilvusLexical:
        # words: Milvus's jieba analyzer over the folded query, as over the folded passages;
        # grams: wenda's bigrams, written as the tokens the collection holds
        text = self.analyzer.fold(query) if view == "words" else " ".join(gram_token(g) for g in match_terms(terms))
        field_name = _FIELDS[view]
        if not match_terms(terms):
            return MilvusLexical(self._milvus, field_name, "", np.zeros(0, np.int64), np.zeros(0))
        hits = self._milvus.search(field_name, [text], depth, filter=allowed or "")[0]
        return MilvusLexical(self._milvus, field_name, text, np.array([h[0] for h in hits], dtype=np.int64),
                             np.array([h[1] for h in hits], dtype=np.float64))

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        found = self._milvus.vectors(ids)
        return np.vstack([found[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.manifest["model"]["dim"]))

    def term_in_corpus(self, grams: list[str], ignore_source: str | None = None) -> bool:
        phrase = " " + " ".join(gram_token(g) for g in grams) + " "
        where = f'grams like "%{like_literal(phrase)}%"'
        if ignore_source is not None:
            where += f" and source != {_quote(ignore_source)}"
        return bool(self._milvus.call("query", self.target.collection, filter=where, output_fields=["id"], limit=1))

    def known_grams(self, grams: list[str]) -> None:
        """Not listed: Milvus's text match has no vocabulary lookup (so no homophone corrections)."""
        return None

    def verify_full(self) -> None:
        """Milvus checks its own segments; nothing to read here."""

    def refreshed(self) -> "MilvusIndex | None":
        meta = require_meta(self._milvus)
        if meta.get("revision", 0) == self.revision:
            return None
        return MilvusIndex(self._milvus, meta, self.analyzer)

    def close(self) -> None:
        """The connection is shared by the revisions of one searcher and closed with the process."""


def milvus_info(target: Target) -> dict:
    """What `wenda info --backend milvus` shows."""
    index = MilvusIndex.open(target)
    try:
        docs = index.store.documents()
        meta = index.manifest
        return {"index_dir": target.describe(), "backend": "milvus", "uri": target.uri,
                "collection": target.collection, "generation": index.generation.name,
                "created": meta.get("updated"), "format": meta["format"], "root": meta.get("root"),
                "model": meta["model"], "chunking": meta["chunking"], "analyzer": meta["analyzer"],
                "vector_index": meta["vector_index"], "documents": len(docs), "passages": meta["counts"]["passages"],
                "sources": docs}
    finally:
        index._milvus.close()
