"""The two lexical retrievers of one query (jieba words, character bigrams): each view's top
passages and the BM25 score of any other candidate.

From the store's posting arrays when it has them (indexer/postings.py: one vectorised pass scores
every passage), else from FTS5 (``ORDER BY rank LIMIT`` for the top, a second MATCH restricted
to the other candidates). Both give the same scores and the same top, ties by rowid.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wenda.indexer.store import StoreReader
from wenda.indexer.tokens import fts_match_expression, match_terms

_EMPTY_IDS = np.zeros(0, dtype=np.int64)


@dataclass
class ViewScores:
    top_ids: np.ndarray                    # the view's best passages, best first
    top_scores: np.ndarray
    all_scores: np.ndarray | None = None   # postings: the score of every passage ...
    numbers: Callable | None = None        # ... by passage number (rowids -> numbers)
    fts: tuple | None = None               # FTS5: (store, match expression, view)

    def among(self, rowids: np.ndarray) -> np.ndarray:
        """BM25 of each of ``rowids`` (sorted, distinct), 0 where no term occurs."""
        if self.all_scores is not None:
            return self.all_scores[self.numbers(rowids)] if len(rowids) else np.zeros(0)
        known = dict(zip(self.top_ids.tolist(), self.top_scores.tolist()))
        if self.fts is not None:
            store, match, view = self.fts
            missing = [r for r in rowids.tolist() if r not in known]
            if missing:
                known.update(store.lexical_among(match, missing, view=view))
        return np.array([known.get(r, 0.0) for r in rowids.tolist()], dtype=np.float64)


def view_scores(store: StoreReader, view: str, terms: list[str], depth: int, doc: str | None,
                allowed: np.ndarray | None) -> ViewScores:
    """``terms`` are the query's terms for this view; ``allowed`` the rowids under ``doc``."""
    unique = match_terms(terms)
    if not unique:
        return ViewScores(_EMPTY_IDS, np.zeros(0))
    postings = store.postings(view)
    scores = postings.scores(unique) if postings is not None else None
    if scores is not None:
        ids, top = postings.top(scores, depth, allowed if doc else None)
        return ViewScores(ids, top, scores, postings.numbers)
    match = fts_match_expression(unique)
    rows = store.lexical(match, depth, doc, view=view)
    ids = np.array([r for r, _ in rows], dtype=np.int64)
    return ViewScores(ids, np.array([s for _, s in rows], dtype=np.float64), fts=(store, match, view))
