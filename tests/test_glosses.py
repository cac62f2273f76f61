"""English words of a question in Chinese (search/glosses.py): CC-CEDICT read backwards, the
corpus's own wording kept, compounds formed; and what that does to searches of the real seeds.

The questions here are written for these tests (not taken from the evaluation sets)."""
from __future__ import annotations

import pytest

from wenda.indexer.tokens import Analyzer
from wenda.search import question as question_module
from wenda.search.glosses import english_glosses, plain_gloss
from wenda.search.question import _ENGLISH_STOP, analyse, analyse_over, analyzer_frequency


@pytest.fixture(scope="module")
def frequency():
    analyzer = Analyzer()
    analyzer.warm()
    return lambda word: analyzer_frequency(analyzer, word)


def glosses(text: str, frequency, known=None) -> dict[str, tuple[str, ...]]:
    return english_glosses(text.lower().split(), frequency, _ENGLISH_STOP, known)


def test_a_phrase_is_translated_whole(frequency):
    found = glosses("real estate", frequency)
    assert "房地产" in found["real"] and found["real"] == found["estate"]


@pytest.mark.parametrize("text, word, chinese", [
    ("companies", "companies", "公司"),          # plural reduced
    ("held", "held", "举行"),                    # irregular past
    ("employees", "employees", "员工"),
    ("GDP", "gdp", "国内生产总值"),               # acronym named in a definition
    ("cloud computing", "cloud", "云计算"),
    ("big data", "data", "大数据"),              # a phrase may hold a stop word
])
def test_inflections_acronyms_and_phrases(frequency, text, word, chinese):
    assert chinese in glosses(text, frequency)[word]


@pytest.mark.parametrize("definition, plain", [
    ("to hold (a meeting, ceremony etc)", "hold"), ("Xuhui district, central Shanghai", "xuhui district"),
    ("Putuo district of Zhoushan city", "putuo district"), ("CL:個|个[ge4]", None), ("variant of 台[tai2]", None),
    ("a word of four words too many", None)])
def test_a_definition_read_as_plain_english(definition, plain):
    assert plain_gloss(definition) == plain


def test_question_words_alone_have_no_glosses(frequency):
    assert glosses("how many of the", frequency) == {}
    assert glosses("", frequency) == {}
    assert glosses("xqzvbk", frequency) == {}


def test_the_corpus_wording_is_kept_and_compounds_formed(frequency):
    corpus = {"科学", "园区", "技术", "科学园区"}
    found = glosses("science park technology", frequency, known=corpus.__contains__)
    assert set(found["science"]) <= corpus and set(found["park"]) <= corpus
    assert "科学园区" in found["science"] and found["park"][0] == "科学园区"    # the compound first
    assert "公园" not in found["park"]             # a translation the corpus never uses is dropped


def test_glosses_become_weighted_terms_of_the_analysis():
    terms = {t.text: t for t in analyse("when was the 数字创新大会 held", Analyzer()).terms}
    assert terms["held"].english and terms["举办"].source == "gloss" and not terms["举办"].english
    assert terms["举办"].weight < terms["held"].weight


def test_a_question_without_english_is_analysed_as_before(searcher):
    index = searcher.index
    for text in ("徐汇区有多少家人工智能企业？", "上海 數字經濟 規模", "5G 基站 普陀"):
        assert analyse_over(text, index) == analyse(text, index.analyzer)


CASES = [
    # question, text its top passage must hold
    ("上海 cloud computing industry scale", "云计算"),
    ("how many big data enterprises are there in 上海", "大数据"),
    ("which companies settled in the 海纳小镇", "海纳小镇"),
]


@pytest.mark.parametrize("query, holds", CASES)
def test_english_words_reach_the_chinese_passage(searcher, query, holds):
    result = searcher.search(query, k=5)
    assert holds in result.hits[0].passage.text, result.hits[0].passage.text[:80]
    assert any(not t.isascii() for t in result.terms if t not in query)   # Chinese wording was searched


def test_without_glosses_the_english_query_ranks_lower(searcher, monkeypatch):
    """The same query with the dictionary switched off: the answering passage falls from first."""
    query, holds = "上海 cloud computing industry scale", "云计算"
    first = searcher.search(query, k=5).hits[0]
    monkeypatch.setattr(question_module, "english_glosses", lambda *args, **kwargs: {})
    plain = searcher.search(query, k=5).hits[0]
    where = lambda hit: (hit.passage.source, hit.passage.start)
    assert holds in first.passage.text and where(first) != where(plain)


def test_the_answer_layer_matches_english_words_by_their_chinese_wording(searcher):
    index = searcher.index
    english = analyse_over("How many data centers does Shanghai have?", index)
    assert "数据中心" in english.matching_text and "上海" in english.matching_text
    assert dict(english.glosses)["shanghai"][0] == "上海"
    chinese = analyse_over("上海有多少个数据中心？", index)
    assert chinese.matching_text == chinese.text and chinese.glosses == ()


def test_training_variants_put_plain_content_words_in_english(monkeypatch):
    """bench/answer_data.py's English-mixed variants of answerable questions (the public sets hold
    none): content words become their CC-CEDICT gloss; names, places and numbers stay."""
    import sys

    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    import answer_data

    from wenda.search.evaluate import Question

    monkeypatch.setattr(answer_data, "ENGLISH_SHARE", 1.0)
    asked = [Question("t1", "徐汇区的人口有多少？", "a.txt", ("约111万",), group="a"),
             Question("t2", "示例科技在2011年创办了哪家研究所？", "b.txt", ("某所",), group="b")]
    variants = {v.qid: v for v in answer_data._english_mixed(asked, Analyzer())}
    assert "population" in variants["t1-en"].question and "徐汇区" in variants["t1-en"].question
    assert "2011" in variants["t2-en"].question and variants["t2-en"].answers == ("某所",)
    assert all(v.doc == q.doc and v.group == q.group for q, v in zip(asked, variants.values()))


def test_a_question_wholly_in_english_is_answered_from_the_chinese_text(searcher):
    answer = searcher.ask("How many 5G outdoor base stations has Putuo district opened?")
    assert answer.found and answer.span is not None and "2694" in answer.span.text, answer.answer
    refused = searcher.ask("What is the population of Mars?")
    assert not refused.found and refused.answer == "The corpus does not contain an answer."
