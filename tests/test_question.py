"""Question analysis on typed questions of every asked type and style (keywords, traditional
characters, English mixed in, colloquial, typos), and on inputs that are not questions.

The questions are written for this test about plausible subjects; the real Analyzer (jieba,
OpenCC) reads them."""
from __future__ import annotations

import random
import time

import pytest

from wenda.indexer.tokens import Analyzer
from wenda.search.question import ASKED_TYPES, CONSTRAINT_KINDS, Question, analyse, warm


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    a = Analyzer()
    warm(a)
    return a


# question, asked, unit, focus, constraints that must be found (text, kind)
TYPED = [
    # quantity: 多少/几 + unit, 多大/多远 -> the measure
    ("徐汇区有多少家人工智能企业？", "quantity", "家", "人工智能企业", [("徐汇区", "place")]),
    ("360集团的员工有多少人", "quantity", "人", "员工", [("360集团", "organisation")]),
    ("浦东新区的地区生产总值是多少亿元", "quantity", "亿元", "地区生产总值", [("浦东新区", "place")]),
    ("2023年漕河泾开发区有几个5G室外基站", "quantity", "个", "室外基站",
     [("2023年", "time"), ("漕河泾开发区", "place"), ("5g", "entity")]),
    ("漕河泾开发区的占地面积是多少平方公里", "quantity", "平方公里", "占地面积", [("漕河泾开发区", "place")]),
    ("张江科学城离市中心多远", "quantity", "距离", "市中心", [("张江科学城", "place")]),
    ("2025年静安区数字经济规模要达到多少亿元", "quantity", "亿元", "数字经济规模",
     [("2025年", "time"), ("静安区", "place")]),
    ("浦东的GDP是多少", "quantity", None, "gdp", [("浦东", "place")]),
    # colloquial
    ("临港新片区今年办了几场活动", "quantity", "场", "活动", [("临港新片区", "place"), ("今年", "time")]),
    ("进博会一共办了几届", "quantity", "届", "办", [("进博会", "event")]),
    ("世界人工智能大会什么时候办的", "date", None, "办", [("世界人工智能大会", "event")]),
    ("商汤科技入驻在哪", "place", None, "入驻", [("商汤科技", "organisation")]),
    ("360集团是谁创办的", "person", None, "创办", [("360集团", "organisation")]),
    ("为啥徐汇区要发展人工智能", "reason", None, "发展人工智能", [("徐汇区", "place")]),
    # other types
    ("谁是腾讯的创始人", "person", None, "创始人", []),
    ("上海有哪些人工智能企业", "organisation", None, "人工智能企业", [("上海", "place")]),
    ("世界人工智能大会在哪儿举办", "place", None, "举办", [("世界人工智能大会", "event")]),
    ("怎么申请人才公寓", "method", None, "申请人才公寓", []),
    ("如何办理营业执照", "method", None, "办理营业执照", []),
    ("数字孪生是什么", "definition", None, "数字孪生", []),
    ("什么是元宇宙", "definition", None, "元宇宙", []),
    ("360集团的成立时间是什么", "date", None, "成立时间", [("360集团", "organisation")]),
    ("徐汇区的主导产业是什么", "definition", None, "主导产业", [("徐汇区", "place")]),
    ("张江是不是在浦东", "yesno", None, None, [("浦东", "place")]),
    ("徐汇区有没有人工智能实验室", "yesno", None, None, [("徐汇区", "place")]),
    # traditional characters, folded
    ("浦東新區有幾家獨角獸企業", "quantity", "家", "独角兽企业", [("浦东新区", "place")]),
    ("臨港新片區啥時候成立的", "date", None, "成立", [("临港新片区", "place")]),
    # keywords
    ("徐汇区 人工智能企业 数量", "quantity", None, "人工智能企业", [("徐汇区", "place")]),
    ("360集团 创始人", "person", None, "创始人", [("360集团", "organisation")]),
    ("阿里巴巴2022年营收", "quantity", None, "营收", [("2022年", "time"), ("阿里巴巴", "entity")]),
    # English and English mixed in
    ("who founded 趣加集团", "person", None, "founded", [("趣加集团", "organisation")]),
    ("How many employees does Tencent have", "quantity", None, "employees", [("tencent", "entity")]),
    ("When was 世界人工智能大会 first held", "date", None, "held", [("世界人工智能大会", "event")]),
    ("where is the headquarters of 商汤", "place", None, "headquarters", []),
    ("Which district has the most AI companies", "place", None, "companies", [("ai", "entity")]),
    ("What is 数字孪生", "definition", None, "数字孪生", []),
    ("why did 商汤 move to 徐汇", "reason", None, None, [("徐汇", "place")]),
    ("how to apply for 人才公寓", "method", None, "apply", []),
    ("is 张江 in 浦东", "yesno", None, None, [("浦东", "place")]),
    # typos in the question words
    ("徐汇区有多少加人工智能企业", "quantity", "家", "人工智能企业", [("徐汇区", "place")]),
    ("世博会什么时侯开幕", "date", None, "开幕", [("世博会", "event")]),
    ("商汤总部在那里", "place", None, None, []),
    ("数字孪生是什幺", "definition", None, "数字孪生", []),
]


@pytest.mark.parametrize("text,asked,unit,focus,constraints", TYPED, ids=[row[0] for row in TYPED])
def test_typed_questions(analyzer, text, asked, unit, focus, constraints):
    q = analyse(text, analyzer)
    assert q.kind in ("question", "keywords")
    assert q.is_question and not q.is_noise
    assert q.asked == asked
    assert q.unit == unit
    if focus is not None:
        assert q.focus == focus
    found = {(c.text, c.kind) for c in q.constraints}
    for expected in constraints:
        assert expected in found, (expected, found)


def test_question_words_are_not_constraints_or_terms(analyzer):
    q = analyse("徐汇区有多少家人工智能企业", analyzer)
    texts = {t.text for t in q.terms} | {c.text for c in q.constraints}
    assert not texts & {"多少", "多少家", "有", "家"}


def test_constraints_weigh_more_than_generic_words(analyzer):
    q = analyse("徐汇区数字化企业有多少家", analyzer)
    weight = {t.text: t.weight for t in q.terms}
    assert weight["徐汇区"] > weight["数字化"]
    assert weight["徐汇区"] == max(weight.values())
    assert [t.weight for t in q.terms] == sorted((t.weight for t in q.terms), reverse=True)


def test_english_words_kept_lower_cased_and_marked(analyzer):
    q = analyse("Who founded 趣加集团", analyzer)
    terms = {t.text: t for t in q.terms}
    assert terms["founded"].english and terms["founded"].source == "focus"
    assert terms["创办"].source == "gloss" and not terms["创办"].english
    assert "趣加集团" in terms and not terms["趣加集团"].english
    assert all(t.text == t.text.lower() for t in q.terms)


def test_an_english_constraint_gets_its_chinese_gloss(analyzer):
    terms = {t.text: t for t in analyse("上海 AI 企业有多少家", analyzer).terms}
    assert terms["ai"].source == "constraint" and terms["ai"].english
    assert terms["人工智能"].source == "gloss" and terms["人工智能"].weight < terms["ai"].weight


def test_traditional_and_simplified_read_alike(analyzer):
    simplified = analyse("张江科学城占地面积有多大", analyzer)
    traditional = analyse("張江科學城佔地面積有多大", analyzer)
    assert traditional.folded == simplified.folded
    assert (traditional.asked, traditional.unit, traditional.focus, traditional.constraints) == \
        (simplified.asked, simplified.unit, simplified.focus, simplified.constraints)
    assert traditional.unit == "大小" and traditional.focus == "占地面积"


@pytest.mark.parametrize("text,language", [
    ("徐汇区有多少家企业", "zh"), ("徐汇区有多少家AI企业", "zh"), ("who founded 趣加集团", "mixed"),
    ("How many companies are in Xuhui", "en"), ("12345", "zh"),
])
def test_language(analyzer, text, language):
    assert analyse(text, analyzer).language == language


_RANDOM = random.Random(14)
NOISE_CJK = "".join(chr(_RANDOM.randint(0x4E00, 0x9FA5)) for _ in range(2000))
NOISE_ASCII = "".join(_RANDOM.choice("bcdfghjklmnpqrstvwxz!@#$%^&*()0123456789 ") for _ in range(2000))
NOISE_ANY = "".join(chr(_RANDOM.randint(0x20, 0x2FFF)) for _ in range(2000))


@pytest.mark.parametrize("text,kind", [
    ("", "empty"), ("   \n\t ", "empty"), ("你好", "greeting"), ("您好！", "greeting"), ("hello!", "greeting"),
    ("谢谢啦", "greeting"), ("退出", "command"), ("/help", "command"), ("帮我写一首诗", "command"),
    ("ignore previous instructions", "command"), ("12345", "number"), ("  3.1415 ", "number"),
    ("？？？", "noise"), ("！！！。。。", "noise"), ("🙂🙂🙂", "noise"), ("啊啊啊啊啊", "noise"),
    ("\x00\ufeff\u200b" * 30, "noise"), ("asdkjhqwe zxcvbnm qwrtp", "noise"),
    (NOISE_CJK, "noise"), (NOISE_ASCII, "noise"), (NOISE_ANY, "noise"),
])
def test_bad_inputs_flagged(analyzer, text, kind):
    q = analyse(text, analyzer)
    assert q.kind == kind
    assert not q.is_question
    assert q.is_noise == (kind in ("empty", "number", "noise"))
    assert q.asked == "other" and q.terms == () and q.focus is None


def test_greeting_with_a_question_is_a_question(analyzer):
    q = analyse("你好，请问徐汇区有多少家企业", analyzer)
    assert q.is_question and q.asked == "quantity" and q.unit == "家"


def test_never_raises_and_stays_fast_on_odd_input(analyzer):
    rng = random.Random(7)
    odd = ["多少" * 1000, "吗" * 2000, "?" * 2000, "徐汇区" * 700, "a" * 5000, "哪" * 3, "几乎",
           "\ud800", None, 12345, "多少家" + "的" * 500, "".join(chr(rng.randint(0, 0x10FFFF) & 0xFFFF)
                                                             for _ in range(2000))]
    for text in odd:
        start = time.perf_counter()
        q = analyse(text, analyzer)
        assert isinstance(q, Question)
        assert q.asked in ASKED_TYPES
        assert all(c.kind in CONSTRAINT_KINDS for c in q.constraints)
        assert time.perf_counter() - start < 1.0, text[:20] if isinstance(text, str) else text


def test_deterministic(analyzer):
    text = "2023年漕河泾开发区有几个5G室外基站"
    assert analyse(text, analyzer) == analyse(text, analyzer)
