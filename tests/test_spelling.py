"""Homophone typos (search/spelling.py) over the real seeds index: a character of the same
pinyin picked by mistake is replaced, and searches and answers use the corrected query; what
is typed right, question words, names the corpus lacks and other scripts stay as typed.

The queries are written for this test."""
from __future__ import annotations

import json

import pytest

from wenda.search import spelling
from wenda.search.searcher import corrected_query

# typed, what it should be searched as
TYPOS = [
    ("普佗区的5G基站数量", "普陀区的5G基站数量"),          # 佗 for 陀 (tuo)
    ("静按区的数字经济", "静安区的数字经济"),              # 按 for 安 (an)
    ("徐会区人工智能企业", "徐汇区人工智能企业"),          # 会 for 汇 (hui)
    ("上海的人工只能企业", "上海的人工智能企业"),          # 只 for 智 (zhi): 只能 is a word itself
    ("靜按區有哪些數字化項目", "靜安區有哪些數字化項目"),  # traditional characters keep their form
]

AS_TYPED = [
    "徐汇区有多少家人工智能企业？",
    "普陀区在哪里",                        # 哪 is not 那: question words stay
    "这个项目的负责人是谁",                # nor 谁 水
    "李明远是哪家公司的董事长",            # a name the seeds do not hold
    "徐汇区的经纪有多少",                  # real words the seeds lack are not typos: 经纪 stays,
    "徐汇区的师范有多少",                  # though 经济 and 示范 are theirs
    "who founded 趣加集团",
    "5G",
    "",
    "的的的的的的的的的的的的的的的的的的的的的的的的的的的的的的的的的的" * 5,   # long noise
]


@pytest.mark.parametrize("typed,meant", TYPOS)
def test_homophone_typos_are_corrected(searcher, typed, meant):
    assert corrected_query(searcher.index, typed) == meant


@pytest.mark.parametrize("typed", AS_TYPED)
def test_what_is_typed_right_stays(searcher, typed):
    assert corrected_query(searcher.index, typed) is None


def test_search_and_answer_use_the_corrected_query(searcher):
    typed, meant = "普佗区开通的5G室外基站有多少个", "普陀区开通的5G室外基站有多少个"
    result = searcher.search(typed, k=3)
    assert result.query == typed and result.corrected == meant
    assert result.to_dict()["corrected"] == meant
    right = searcher.search(meant, k=3)
    assert [h.passage.passage_id for h in result.hits] == [h.passage.passage_id for h in right.hits]
    answer = searcher.ask(typed)
    assert answer.question == typed and answer.corrected == meant
    assert answer.to_dict()["corrected"] == meant
    assert answer.answer == searcher.ask(meant).answer
    assert "corrected" not in searcher.search(meant, k=1).to_dict()


def test_no_vocabulary_no_correction():
    # a backend that cannot list its bigrams (Milvus) searches as typed
    from wenda.indexer.tokens import Analyzer

    assert spelling.correct("普佗区的基站", Analyzer(), lambda grams: None, lambda grams: True) is None


def test_the_table_is_pypinyins():
    pytest.importorskip("pypinyin")
    shipped = json.loads(spelling._TABLE.read_text("utf-8"))
    assert shipped == spelling.build_table()
    assert "陀" in spelling.homophones()["佗"] and "南" not in spelling.homophones()["哪"]   # rare readings left out
