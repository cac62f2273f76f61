"""The seam between the searcher and where an index is kept: the local SQLite + FAISS folder
(search/open_index.py, LoadedIndex) or Milvus (search/milvus_index.py, MilvusIndex). The
searcher's fusion, answers and refusal are the same over both; a backend only gives candidates,
their scores and the stored passages."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Protocol

import numpy as np

from wenda.indexer.store import StoredPassage
from wenda.indexer.tokens import Analyzer


class LexicalScores(Protocol):
    """One lexical view's candidates for one query."""

    top_ids: np.ndarray                    # the view's best passages, best first

    def among(self, rowids: np.ndarray) -> np.ndarray:
        """BM25 of each of ``rowids`` (sorted, distinct), 0 where no term occurs."""


class PassageReader(Protocol):
    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, StoredPassage]: ...
    def passage_by_id(self, passage_id: str) -> StoredPassage | None: ...
    def passages_of(self, source: str, first: int = 1, last: int | None = None) -> list[StoredPassage]: ...
    def documents(self) -> list[dict]: ...
    def document_text(self, source: str) -> str | None: ...
    def document_pages(self, source: str) -> list[tuple[int, int, int]]: ...


class SearchBackend(Protocol):
    manifest: dict                         # model (name, fingerprint, dim), chunking, root, counts
    analyzer: Analyzer
    store: PassageReader
    generation: PurePath                   # names what is served (a local build folder, a Milvus revision)

    @property
    def half_vectors(self) -> bool:
        """The vectors trade exactness for speed, so queries may be embedded in bfloat16 too."""

    def allowed(self, doc: str | None) -> object | None:
        """What restricts a search to the sources matching ``doc`` (BadInput when none does)."""

    def dense(self, queries: np.ndarray, depth: int, allowed: object | None,
              spread: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, depth); ids are -1 past the last result. ``spread``: the
        caller's other work is done, so one query may take every free core."""

    def lexical(self, view: str, query: str, terms: list[str], depth: int, doc: str | None,
                allowed: object | None) -> LexicalScores:
        """``view`` "words" (jieba) or "grams" (character bigrams); ``terms`` the query's terms in it."""

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``ids``, in that order."""

    def term_in_corpus(self, grams: list[str], ignore_source: str | None = None) -> bool:
        """Whether some passage (outside ``ignore_source``) holds the phrase of these bigrams."""

    def known_grams(self, grams: list[str]) -> dict[str, int] | None:
        """The passage count of each of ``grams`` the corpus holds; None when it cannot tell."""

    def verify_full(self) -> None: ...
    def refreshed(self) -> "SearchBackend | None":
        """A newer state of the same index to switch to, or None."""

    def close(self) -> None: ...
