"""Property tests: the offset invariant for arbitrary text, no crash on arbitrary queries."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wenda.indexer.chunker import ChunkSettings, chunk_document
from wenda.indexer.corpus import strip_surrogates
from wenda.indexer.errors import BadInput

PIECES = st.sampled_from(["上海", "数字经济", "。", "，", "\n", "\r\n", "\t", "\u200b", "e\u0301", "😀", "# 标题\n",
                          "一、概述\n", "（资料图片）", "2.6万亿元", " ", "\n\n\n", "ABC def", "”", "\ufeff", "\u3000"])
TEXT = st.one_of(st.text(max_size=400), st.lists(PIECES, max_size=120).map("".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, st.integers(min_value=20, max_value=300))
def test_offsets_hold_for_arbitrary_text(text, max_chars):
    text = strip_surrogates(text)
    _title, passages = chunk_document("x.txt", text, ChunkSettings(max_chars=max_chars, min_chars=max_chars // 5))
    previous_end = 0
    for p in passages:
        assert p.text == text[p.start:p.end]
        assert p.start >= previous_end and p.end > p.start
        previous_end = p.end
        for s, e in p.spans:
            assert text[s:e] in p.clean


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_search_and_ask_never_raise_on_arbitrary_strings(searcher, query):
    try:
        result = searcher.search(query, k=3)
        assert len(result.hits) <= 3 and [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
        answer = searcher.ask(query)
        # a found answer always cites; a refusal never does
        assert bool(answer.citations) == answer.found
    except BadInput:
        pass
