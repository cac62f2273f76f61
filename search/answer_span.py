"""The short answer inside an answer sentence: the typed phrase that answers the question
("约710家", "2020年12月", "周鸿祎"), with offsets into the sentence.

Phrases of the asked type are found by pattern (quantities with their unit, dates) or by jieba's
part-of-speech tags (people, organisations, places); those the question names itself are not
answers. Of the rest, the one closest to where the sentence repeats the question's terms wins:
an answer stands next to its cue ("员工约710人").
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from wenda.indexer.tokens import Analyzer

from .question import Question, pos_tagger

TYPED = ("quantity", "date", "person", "organisation", "place")

_DIGITS = r"(?:\d+(?:[,，]\d{3})*(?:\.\d+)?|[零〇一二三四五六七八九十两百千万亿]+(?:点[零〇一二三四五六七八九]+)?)"
_MAGNITUDE = r"(?:多|余)?(?:万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千|百)?(?:多|余)?"
_UNIT = (r"(?:平方公里|平方千米|万平方米|平方米|公顷|亩|公里|千米|厘米|毫米|米|万吨|吨|千克|公斤|克|千瓦时|千瓦|兆瓦|瓦|"
         r"亿美元|万美元|美元|亿元|万元|元|块|个百分点|%|％|‰|倍|家|个|人次|人|名|位|场|次|项|件|座|所|条|部|种|类|"
         r"届|期|层|栋|辆|架|艘|台|套|张|本|篇|首|岁|年|个月|月|天|日|小时|分钟|秒|周|级|星|分|票|支|队|只|头|株|颗)")
_QUANTITY = re.compile(rf"(?:约|近|逾|超过|超|达到?|共计?|总计|合计|高达|仅|不到|不足|将近)?{_DIGITS}{_MAGNITUDE}"
                       rf"(?:{_UNIT})?(?:以上|左右|之多|多)?")
_DATE = re.compile(r"(?:公元前?)?(?:\d{1,4}|[零〇一二三四五六七八九十]{2,4})年(?:代|初|底|末|中)?"
                   r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})?(?:月(?:(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号])?)?"
                   r"|(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号])?"
                   r"|(?:\d{1,2}|[一二三四五六七八九十]{1,3})世纪(?:\d{1,2}0年代|[初中末])?")
_NAME_FLAGS = {"person": ("nr", "nrfg", "nrt"), "organisation": ("nt",), "place": ("ns",)}
_ORG_SUFFIX = re.compile(r"(?:公司|集团|银行|大学|学院|研究院|研究所|实验室|医院|协会|委员会|中心|基金会|局|部|厅|署|馆)$")
_ORG_NOUNS = ("n", "nz", "nt", "ns", "j", "vn", "eng")
_POS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Span:
    lo: int         # offsets into the text it was found in
    hi: int
    text: str


def typed_spans(text: str, asked: str, analyzer: Analyzer, unit: str | None = None) -> list[Span]:
    """Every phrase of ``text`` of the asked type, in order (empty for untyped questions)."""
    if asked == "quantity":
        spans = [Span(m.start(), m.end(), m.group(0)) for m in _QUANTITY.finditer(text) if _is_quantity(m.group(0))]
        return [s for s in spans if not _DATE.fullmatch(s.text)] if unit != "年" else spans
    if asked == "date":
        return [Span(m.start(), m.end(), m.group(0)) for m in _DATE.finditer(text)]
    if asked in _NAME_FLAGS:
        return _names(text, asked, analyzer)
    return []


def _is_quantity(phrase: str) -> bool:
    return bool(re.search(r"\d|[一二三四五六七八九十两百千万亿]", phrase)) and len(phrase) >= 1 \
        and not re.fullmatch(r"[一二两]", phrase)


def _names(text: str, asked: str, analyzer: Analyzer) -> list[Span]:
    folded, origin = analyzer.fold_with_map(text)
    tagger = pos_tagger(analyzer)
    with _POS_LOCK:
        tokens = list(tagger.cut(folded, HMM=False))
    flags = _NAME_FLAGS[asked]
    out: list[Span] = []
    pos, run_lo, run_hi = 0, None, None

    def close() -> None:
        if run_lo is not None and run_hi - run_lo >= 2:
            lo, hi = origin[run_lo], origin[run_hi - 1] + 1
            out.append(Span(lo, hi, text[lo:hi]))

    for tok in tokens:
        lo, hi = pos, pos + len(tok.word)
        pos = hi
        named = tok.flag in flags or (asked == "organisation" and tok.flag in _ORG_NOUNS and _ORG_SUFFIX.search(tok.word)
                                      and run_lo is not None)
        # A person's name jieba cut into single characters (周/鸿/祎) comes back as one run.
        # Rare characters of given names carry morpheme tags (祎: zg).
        loose = asked == "person" and run_lo is not None and len(tok.word) == 1 \
            and tok.flag in ("nr", "yg", "ng", "zg", "g", "x") \
            and tok.word.strip() and re.match(r"[\u4e00-\u9fff]", tok.word) and run_hi - run_lo < 3
        if named or loose:
            run_lo = lo if run_lo is None else run_lo
            run_hi = hi
            continue
        close()
        run_lo = run_hi = None
    close()
    return out


def term_positions(text_folded: str, question: Question) -> list[tuple[int, int]]:
    """Where the question's content terms occur in a folded text."""
    out = []
    for term in question.terms:
        if term.source == "generic" or not term.text:
            continue
        start = text_folded.find(term.text)
        while start >= 0:
            out.append((start, start + len(term.text)))
            start = text_folded.find(term.text, start + 1)
    return out


def best_span(text: str, question: Question, analyzer: Analyzer) -> Span | None:
    """The typed phrase of ``text`` that answers ``question``, or None."""
    if question.asked not in TYPED:
        return None
    spans = [s for s in typed_spans(text, question.asked, analyzer, question.unit)
             if analyzer.fold(s.text) not in question.folded]
    if not spans:
        return None
    folded = analyzer.fold(text)
    cues = term_positions(folded, question) if len(folded) == len(text) else []

    def key(s: Span) -> tuple:
        unit_match = bool(question.unit) and question.unit in s.text
        distance = min((max(lo - s.hi, s.lo - hi, 0) for lo, hi in cues), default=0)
        return (not unit_match, distance, s.lo)

    return min(spans, key=key)
