"""The typed short answer (answer_span) and the answer model's features: phrases of the asked
type found in sentences written here, spans on the real seeds index equal to the source text at
their offsets, and the model's features the same whether computed at serving or from stored hits
(as bench/train_answers.py computes them)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from wenda.indexer.tokens import Analyzer
from wenda.search import answer_model
from wenda.search.answer_span import best_span
from wenda.search.candidates import FEATURES, build_candidates, feature_matrix
from wenda.search.question import analyse, analyse_over

from conftest import ROOT, SEEDS

FILES = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
SENTENCE = "示例科技由王建国于2011年3月创办，总部位于杭州市滨江区，去年员工约860人，营收约42亿元。"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.mark.parametrize("question, expected", [
    ("示例科技是谁创办的？", "王建国"),
    ("示例科技什么时候成立的", "2011年3月"),
    ("示例科技总部在哪里？", "杭州市滨江区"),
    ("示例科技有多少员工", "约860人"),
    ("示例科技营收多少亿元？", "约42亿元"),
])
def test_the_phrase_of_the_asked_type(analyzer, question, expected):
    span = best_span(SENTENCE, analyse(question, analyzer), analyzer)
    assert span is not None and span.text == expected == SENTENCE[span.lo:span.hi]


def test_a_given_name_of_rare_characters_is_kept_whole(analyzer):
    # jieba tags 祎 and 堃 as morphemes (zg/g), not as parts of a name
    for sentence, name in [("据介绍，该集团创始人周鸿祎当天出席了论坛。", "周鸿祎"), ("项目负责人李堃表示，进展顺利。", "李堃")]:
        span = best_span(sentence, analyse("谁是负责人", analyzer), analyzer)
        assert span is not None and span.text == name, (sentence, span)


def test_untyped_questions_and_phrases_the_question_names_give_none(analyzer):
    assert best_span(SENTENCE, analyse("为什么示例科技发展这么快", analyzer), analyzer) is None
    # the only date in the sentence is the one the question itself names
    assert best_span("示例科技于2011年3月创办。", analyse("2011年3月发生了什么时候的事", analyzer), analyzer) is None


@pytest.mark.parametrize("question", ["徐汇区有多少家人工智能相关企业？", "静安区的数据智能企业数量有多少？",
                                      "上海人工智能产业到2018年6月的规模是多少亿元？"])
def test_spans_on_the_seeds_quote_the_file_exactly(searcher, question):
    answer = searcher.ask(question)
    assert answer.found and answer.span is not None, answer.answer
    span = answer.to_dict()["answer_span"]
    assert span["text"] == FILES[span["source"]][span["start"]:span["end"]]
    first = answer.citations[0]
    assert span["source"] == first.passage.source
    assert answer.span.text.replace("\n", "") in answer.answer


def test_the_bundled_model_reads_the_features_this_code_computes():
    model = answer_model.bundled()
    assert model.booster.feature_name() == list(FEATURES)
    assert 0 < model.threshold < 1 and model.record["command"].startswith("python bench/train_answers.py")


def test_features_at_serving_equal_features_from_stored_hits(searcher):
    """Training rebuilds each question's hits from stored rowids and scores (bench/answer_data.py);
    the features must come out bit-identical to those of a live search."""
    sys.path.insert(0, str(ROOT / "bench"))
    from answer_data import Example, _hit_record, hits_of

    from wenda.search.evaluate import Question

    analyzer = searcher.index.analyzer
    for question in ["普陀区开通了多少个5G室外基站", "长宁区的互联网企业有哪些", "how many data centers does Shanghai have"]:
        hits = searcher.search(question, k=8).hits
        stored = Example("seeds", "asked", Question("t", question, None, ()), "", [_hit_record(h) for h in hits])
        analysis = analyse_over(question, searcher.index)        # as serving and training read it
        live = feature_matrix(build_candidates(question, analysis, hits, analyzer))
        again = feature_matrix(build_candidates(question, analysis, hits_of(stored, searcher), analyzer))
        assert live.shape[1] == len(FEATURES) and len(live) > 0
        np.testing.assert_array_equal(live, again)


def test_the_terminal_shows_the_short_answer_in_bold(searcher):
    from wenda.api.render import Style, render_answer

    answer = searcher.ask("徐汇区有多少家人工智能相关企业？")
    assert answer.span is not None
    short = answer.span.text.replace("\n", "")
    coloured = render_answer(answer, Style(color=True))
    assert f"\x1b[1m\x1b[32m{short}\x1b[0m" in coloured
    plain = render_answer(answer, Style(color=False))
    assert "\x1b[" not in plain and f"答案：{answer.answer}" in plain
