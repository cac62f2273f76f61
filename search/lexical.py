"""The two lexical retrievers of one query (jieba words, character bigrams): each view's top
passages and the BM25 score of any other candidate.

From the store's posting arrays (indexer/postings.py: one vectorised pass scores every passage,
FTS5's bm25() bit for bit, the top in FTS5's ``ORDER BY rank`` order, ties by rowid).
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
    all_scores: np.ndarray | None = None   # the score of every passage ...
    numbers: Callable | None = None        # ... by passage number (rowids -> numbers)

    def among(self, rowids: np.ndarray) -> np.ndarray:
        """BM25 of each of ``rowids`` (sorted, distinct), 0 where no term occurs."""
        if self.all_scores is None or not len(rowids):
            return np.zeros(len(rowids))
        return self.all_scores[self.numbers(rowids)]


def view_scores(store: StoreReader, view: str, terms: list[str], depth: int, doc: str | None,
                allowed: np.ndarray | None) -> ViewScores:
    """``terms`` are the query's terms for this view; ``allowed`` the rowids under ``doc``."""
    unique = match_terms(terms)
    if not unique:
        return ViewScores(_EMPTY_IDS, np.zeros(0))
    postings = store.postings(view)
    scores = postings.scores(unique)
    ids, top = postings.top(scores, depth, allowed if doc else None)
    return ViewScores(ids, top, scores, postings.numbers)
