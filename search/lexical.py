"""The two lexical retrievers of one query (jieba words, character bigrams): each view's top
passages and the BM25 score of any other candidate.

From the store's posting arrays (indexer/postings.py: FTS5's bm25() bit for bit, the top in FTS5's
``ORDER BY rank`` order, ties by rowid; Postings.best).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wenda.indexer.store import StoreReader
from wenda.indexer.tokens import match_terms

_EMPTY_IDS = np.zeros(0, dtype=np.int64)


@dataclass
class ViewScores:
    top_ids: np.ndarray                    # the view's best passages, best first
    top_scores: np.ndarray
    score_of: Callable | None = None       # passage numbers (ascending) -> their scores
    numbers: Callable | None = None        # rowids -> passage numbers

    def among(self, rowids: np.ndarray) -> np.ndarray:
        """BM25 of each of ``rowids`` (sorted, distinct), 0 where no term occurs."""
        if self.score_of is None or not len(rowids):
            return np.zeros(len(rowids))
        return self.score_of(self.numbers(rowids))


def view_scores(store: StoreReader, view: str, terms: list[str], depth: int, doc: str | None,
                allowed: np.ndarray | None) -> ViewScores:
    """``terms`` are the query's terms for this view; ``allowed`` the rowids under ``doc``."""
    unique = match_terms(terms)
    if not unique:
        return ViewScores(_EMPTY_IDS, np.zeros(0))
    postings = store.postings(view)
    ids, top, score_of = postings.best(unique, depth, allowed if doc else None)
    return ViewScores(ids, top, score_of, postings.numbers)
