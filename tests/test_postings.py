"""The numpy BM25 (indexer/postings.py) gives FTS5's bm25() scores bit for bit, and the same top."""
from __future__ import annotations

import numpy as np
import pytest

from wenda.indexer.manifest import current_generation
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.indexer.tokens import Analyzer, fts_match_expression, match_terms
from wenda.search.lexical import view_scores

QUERIES = ["静安区的数据智能企业数量有多少？", "徐汇区有多少家人工智能企业", "上海 GDP 2021年", "人工智能",
           "AR/VR技术能用在哪些场景", "区块链", "C++ 与 covid-19", "什么", "不存在的词语组合乌有之乡"]


@pytest.fixture(scope="module")
def store(seeds_index):
    reader = StoreReader(current_generation(seeds_index) / STORE_FILE)
    yield reader
    reader.close()


@pytest.mark.slow
@pytest.mark.parametrize("view", ["words", "grams"])
def test_scores_and_top_equal_fts5(store, view):
    analyzer = Analyzer()
    postings = store.postings(view)
    assert postings is not None and postings.rows == store.passage_count
    for query in QUERIES:
        terms = match_terms(analyzer.tokens(query) if view == "words" else analyzer.grams(query))
        match = fts_match_expression(terms)
        if match is None:
            continue
        scores = postings.scores(terms)
        if scores is None:          # a term only FTS5 can match (e.g. "covid-19" is a phrase there)
            continue
        for limit in (3, 10, 200):
            ids, top = postings.top(scores, limit)
            assert [(int(r), float(s)) for r, s in zip(ids, top)] == store.lexical(match, limit, view=view), query
        among = store.lexical_among(match, postings.rowids.tolist(), view=view)
        expected = np.array([among.get(int(r), 0.0) for r in postings.rowids])
        assert np.array_equal(scores, expected), query


@pytest.mark.slow
def test_doc_filter_and_fallback_agree(store):
    analyzer = Analyzer()
    allowed = np.array(store.rowids_matching("00[12]_*"), dtype=np.int64)
    for query in QUERIES:
        for view, terms in (("words", analyzer.tokens(query)), ("grams", analyzer.grams(query))):
            fast = view_scores(store, view, terms, 20, "00[12]_*", allowed)
            match = fts_match_expression(terms)
            slow = store.lexical(match, 20, "00[12]_*", view=view) if match else []
            assert list(zip(fast.top_ids.tolist(), fast.top_scores.tolist())) == slow, (query, view)
            assert set(fast.top_ids.tolist()) <= set(allowed.tolist())


@pytest.mark.slow
def test_lengths_match_fts5_docsize(store):
    """Passage lengths from the instance table equal FTS5's own column sizes (varint blobs)."""
    postings = store.postings("grams")
    conn = store._conn()
    sizes = {}
    for rowid, blob in conn.execute("SELECT id, sz FROM passages_grams_docsize"):
        value = 0
        for byte in blob:
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        sizes[rowid] = value
    assert [sizes[int(r)] for r in postings.rowids] == postings._lengths.astype(int).tolist()
    assert type(postings.avgdl) is float           # a plain float, so the manifest's JSON can hold it
    assert postings.avgdl == pytest.approx(float(postings._lengths.mean()))
