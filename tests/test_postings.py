"""The numpy BM25 (indexer/postings.py) gives FTS5's bm25() scores bit for bit, and the same top:
against an FTS5 table built here over the same passages (the store keeps none)."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from wenda.indexer import postings as postings_module
from wenda.indexer.lexicon import TOKENIZE

from wenda.indexer.manifest import current_generation
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.indexer.tokens import Analyzer, fts_match_expression, match_terms
from wenda.search.lexical import view_scores

QUERIES = ["静安区的数据智能企业数量有多少？", "徐汇区有多少家人工智能企业", "上海 GDP 2021年", "人工智能",
           "AR/VR技术能用在哪些场景", "区块链", "C++ 与 covid-19", "什么", "不存在的词语组合乌有之乡",
           "a_b 与 e·mail 和 x-y"]        # words that FTS5 splits: phrases


class Fts5:
    """The reference: FTS5 itself over each view's text of every stored passage."""

    def __init__(self, store) -> None:
        self.conn = sqlite3.connect(":memory:")
        rowids = store.all_rowids()
        for view in ("words", "grams"):
            self.conn.execute(f"CREATE VIRTUAL TABLE {view} USING fts5(x, tokenize = \"{TOKENIZE}\")")
            self.conn.executemany(f"INSERT INTO {view}(rowid, x) VALUES (?, ?)",
                                  zip(rowids, store.view_texts(view, rowids)))

    def lexical(self, match, limit, allowed=None, view="words"):
        sql = f"SELECT rowid, -bm25({view}) FROM {view} WHERE {view} MATCH ?"
        if allowed is not None:
            sql += f" AND rowid IN ({','.join(str(int(r)) for r in allowed)})"
        rows = self.conn.execute(sql + " ORDER BY rank LIMIT ?", (match, limit)).fetchall()
        return [(int(r), float(x)) for r, x in rows]

    def among(self, match, view):
        return dict(self.conn.execute(f"SELECT rowid, -bm25({view}) FROM {view} WHERE {view} MATCH ?", (match,)))


@pytest.fixture(scope="module")
def store(seeds_index):
    reader = StoreReader(current_generation(seeds_index) / STORE_FILE)
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def fts5(store):
    return Fts5(store)


@pytest.mark.slow
@pytest.mark.parametrize("view", ["words", "grams"])
def test_scores_and_top_equal_fts5(store, fts5, view):
    analyzer = Analyzer()
    postings = store.postings(view)
    assert postings is not None and postings.rows == store.passage_count
    for query in QUERIES:
        terms = match_terms(analyzer.tokens(query) if view == "words" else analyzer.grams(query))
        match = fts_match_expression(terms)
        if match is None:
            continue
        scores = postings.scores(terms)         # "covid-19" is a phrase of two FTS5 tokens
        for limit in (3, 10, 200):
            ids, top = postings.top(scores, limit)
            expected = fts5.lexical(match, limit, view=view)
            assert [(int(r), float(s)) for r, s in zip(ids, top)] == expected, query
            assert store.lexical(match, limit, view=view) == expected, query
        among = fts5.among(match, view)
        expected = np.array([among.get(int(r), 0.0) for r in postings.rowids])
        assert np.array_equal(scores, expected), query
        assert store.lexical_among(match, postings.rowids.tolist(), view=view) == among, query


@pytest.mark.slow
def test_doc_filter_and_fallback_agree(store, fts5):
    analyzer = Analyzer()
    allowed = np.array(store.rowids_matching("00[12]_*"), dtype=np.int64)
    for query in QUERIES:
        for view, terms in (("words", analyzer.tokens(query)), ("grams", analyzer.grams(query))):
            fast = view_scores(store, view, terms, 20, "00[12]_*", allowed)
            match = fts_match_expression(terms)
            slow = fts5.lexical(match, 20, allowed, view=view) if match else []
            assert list(zip(fast.top_ids.tolist(), fast.top_scores.tolist())) == slow, (query, view)
            assert set(fast.top_ids.tolist()) <= set(allowed.tolist())


@pytest.mark.slow
def test_lengths_match_fts5_docsize(store, fts5):
    """Passage lengths of the posting arrays equal FTS5's own column sizes (varint blobs)."""
    postings = store.postings("grams")
    sizes = {}
    for rowid, blob in fts5.conn.execute("SELECT id, sz FROM grams_docsize"):
        value = 0
        for byte in blob:
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        sizes[rowid] = value
    assert [sizes[int(r)] for r in postings.rowids] == postings._lengths.astype(int).tolist()
    assert type(postings.avgdl) is float           # a plain float, so the manifest's JSON can hold it
    assert postings.avgdl == pytest.approx(float(postings._lengths.mean()))


@pytest.mark.slow
def test_phrases_of_split_terms_equal_fts5(store, fts5):
    """A term FTS5 splits into several tokens ("甲_乙") scores as FTS5's phrase, from the posting
    arrays and the passages' tokens; holds_phrase finds a passage's own bigrams and no invented ones."""
    postings = store.postings("words")
    analyzer = Analyzer()
    sp = store.passages_by_rowid(store.all_rowids()[:40])
    pairs = [toks[i:i + 2] for s in sp.values() for toks in [analyzer.tokens(s.passage.clean)]
             for i in range(0, len(toks) - 1, 7)]
    terms = list(dict.fromkeys("_".join(p) for p in pairs))[:30] + ["上海_不存在"]
    scores = postings.scores(terms)
    match = fts_match_expression(terms)
    among = fts5.among(match, "words")
    assert among and np.array_equal(scores, np.array([among.get(int(r), 0.0) for r in postings.rowids]))
    text = next(iter(sp.values())).passage.clean
    first = next(i for i in range(len(text) - 4) if all("\u4e00" <= c <= "\u9fff" for c in text[i:i + 4]))
    assert store.holds_phrase(" ".join(analyzer.grams(text[first:first + 4])))
    assert not store.holds_phrase(" ".join(analyzer.grams("乌有之乡不存在的词")))


@pytest.mark.parametrize("view", ["words", "grams"])
@pytest.mark.parametrize("tracked", [1, 10**6])       # sums kept in sorted lists / over every passage
def test_best_leaving_out_terms_that_cannot_change_the_top_equals_scoring_every_passage(store, view, tracked,
                                                                                       monkeypatch):
    """Postings.best, which sums the terms from the largest possible share down only until the
    rest cannot change the top, gives the top of scoring every passage, float for float, with and
    without a document filter, and the same score for any other passage. The seeds are far below
    the size where it prunes, so its thresholds are lowered to the seeds' scale."""
    monkeypatch.setattr(postings_module, "PRUNED_FROM", 0)
    monkeypatch.setattr(postings_module, "PROBE", 30)
    monkeypatch.setattr(postings_module, "NEAR", 3)
    monkeypatch.setattr(postings_module, "ESSENTIAL", 1.0)
    monkeypatch.setattr(postings_module, "TRACKED", tracked)
    left_out = []
    reach = postings_module.Postings._reach
    monkeypatch.setattr(postings_module.Postings, "_reach",
                        lambda self, terms, numbers: left_out.append(len(terms)) or reach(self, terms, numbers))
    analyzer = Analyzer()
    postings = store.postings(view)
    allowed = np.array(store.rowids_matching("00[12]_*"), dtype=np.int64)
    everyone = np.arange(postings.rows)
    queries = QUERIES + ["上海市的企业在数字化转型中有什么发展和变化", "这个区的产业有多少家企业，在哪一年建成的",
                         "上海 发展", "上海的数字经济"]
    for query in queries:
        terms = match_terms(analyzer.tokens(query) if view == "words" else analyzer.grams(query))
        if not terms:
            continue
        scores = postings.scores(terms)
        for limit in (1, 3, 10, 40):
            for allow in (None, allowed):
                ids, top, score_of = postings.best(terms, limit, allow)
                want_ids, want_top = postings.top(scores, limit, allow)
                assert np.array_equal(ids, want_ids) and np.array_equal(top, want_top), (query, limit)
                assert np.array_equal(score_of(everyone), scores), query
    assert sum(n > 0 for n in left_out) >= 10      # terms were left out of the sums, not only summed


def test_cached_rows_give_the_same_scores_and_stay_bounded(store, monkeypatch):
    """Rows read again come from the decoded-row cache: the same scores, cold, warm and after
    eviction; the cache keeps to its bound and its arrays cannot be changed by a caller."""
    analyzer = Analyzer()
    queries = [match_terms(analyzer.grams(q)) for q in QUERIES]
    cold = postings_module.Postings.open(store._conn, "grams", store.view_texts)
    expected = [cold.scores(terms) for terms in queries]
    warm = [cold.scores(terms) for terms in queries]
    monkeypatch.setattr(postings_module, "CACHED_POSTINGS", 50)
    tight = postings_module.Postings.open(store._conn, "grams", store.view_texts)
    evicted = [tight.scores(terms) for terms in queries + queries]
    for want, a, b, c in zip(expected, warm, evicted, evicted[len(queries):]):
        assert np.array_equal(want, a) and np.array_equal(want, b) and np.array_equal(want, c)
    assert tight._cached <= 50 or len(tight._cache) == 1
    assert tight._cached == sum(len(row[0]) for row in tight._cache.values())
    docs, _, _ = next(iter(cold._cache.values()))
    with pytest.raises(ValueError):
        docs[0] = 0
    counts = cold.passage_counts(["上海", "乌有"])
    assert counts["上海"] == len(cold._fetch(["上海"])["上海"][0]) and "乌有" not in counts
