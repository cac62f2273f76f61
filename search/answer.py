"""What the answer layer shares: question words and answer kinds by pattern, the question's
content bigrams, the longest run a sentence repeats, cutting a long sentence to the clauses around
its evidence, the terms that name one particular thing, and the not-found text.

The candidates and their features are in candidates.py, the learned answer check in
answer_model.py, the short typed answer in answer_span.py, and their use in answerer.py.
"""
from __future__ import annotations

import math
import re
from collections import Counter

from wenda.indexer.layout import SENTENCE_STOPS
from wenda.indexer.tokens import Analyzer

from .sentences import Sentence, clauses, join

MAX_ANSWER_CHARS = 160
NOT_FOUND_ZH = "语料中没有找到答案"
NOT_FOUND_EN = "The corpus does not contain an answer."

# Question words carry the question's form, not its content.
_QUESTION_WORDS = re.compile(r"多少|多大|多高|多长|多重|多远|多久|多深|多宽|几|什么|啥|哪|谁|怎么|怎样|如何|为什么|为何|"
                             r"吗|呢|是否|请问|能否|可否|有没有")
_ASKS_NUMBER = re.compile(r"多少|几[个岁年次名种位家条项人天月倍分层届]|多大|多高|多长|多重|多远|多久|多深|多宽|多厚|"
                          r"面积|人口|比例|百分之|规模|产值|数量|身高|体重|长度|高度|年龄|营收|收入|增长了?")
_ASKS_TIME = re.compile(r"什么时候|何时|哪一?年|哪一?天|几月|几号|哪个月|什么时间|哪个时期|什么年代|日期|哪一?世纪")
_ASKS_PERSON = re.compile(r"谁|哪位|什么人|哪个人|创始人|作者是|导演是")
_ASKS_PLACE = re.compile(r"哪里|哪儿|什么地方|在哪|哪个国家|哪座城市|哪个城市|哪个省|哪个区|何处|位于")
_NUMBER = re.compile(r"\d|[一二三四五六七八九十两][个岁年次名种位家条项人天月倍米元%]|[百千万亿]|[半数多余近约]成")
_TIME = re.compile(r"\d{2,4}\s*年|\d{1,2}\s*月|\d{1,2}\s*日|[一二三四五六七八九十〇零]+年|[一二三四五六七八九十]+月|"
                   r"世纪|年代|朝|时期|春|夏|秋|冬|上旬|中旬|下旬|今年|去年|明年")
_PLACE = re.compile(r"[省市县区镇乡村州国岛湾路街港园]|[\u4e00-\u9fff]{2,}(?:中心|大厦|广场|基地|园区|小镇)")
_PERSON_HINT = re.compile(r"[\u4e00-\u9fff]{2,3}(?:说|表示|介绍|认为|指出|称)|(?:主任|书记|董事长|总经理|总裁|教授|"
                          r"院士|市长|区长|局长|部长|主席|创始人)[\u4e00-\u9fff]{2,3}")
_GRAM_RUN = re.compile(r"[\u3400-\u9fff]+|[a-z0-9][a-z0-9.%]*")
_HAS_LATIN = re.compile(r"[A-Za-z]")
_HAS_CJK = re.compile(r"[\u4e00-\u9fff]")


def question_kind(question: str) -> str | None:
    for kind, pattern in (("time", _ASKS_TIME), ("number", _ASKS_NUMBER), ("person", _ASKS_PERSON),
                          ("place", _ASKS_PLACE)):
        if pattern.search(question):
            return kind
    return None


def has_kind(text: str, kind: str | None) -> bool:
    if kind == "number":
        return bool(_NUMBER.search(text))
    if kind == "time":
        return bool(_TIME.search(text))
    if kind == "place":
        return bool(_PLACE.search(text))
    if kind == "person":
        return bool(_PERSON_HINT.search(text))
    return False


_VALUE = re.compile(r"\d+(?:[.,:]\d+)*|[一二三四五六七八九十百千万亿两〇零]+(?=[个岁年次名种位家条项人天月日倍米元])")


def kind_spans(text: str, kind: str | None) -> set[str]:
    """The numbers (for 多少/什么时候 questions) that a text names, as written."""
    if kind not in ("number", "time"):
        return set()
    return set(_VALUE.findall(text))


def has_new_kind(text: str, kind: str | None, known: set[str]) -> bool:
    """Holds the kind of thing asked for beyond what the question names itself: a question about
    "1973年10月" is not answered by a sentence whose only date is 1973年10月."""
    if kind in ("number", "time"):
        return has_kind(text, kind) and bool(kind_spans(text, kind) - known)
    return has_kind(text, kind)


def is_english(question: str) -> bool:
    return bool(_HAS_LATIN.search(question)) and not _HAS_CJK.search(question)


def content_grams(analyzer: Analyzer, text: str) -> list[str]:
    """Character bigrams (and Latin/digit words) of the folded text, question words removed."""
    folded = analyzer.fold(_QUESTION_WORDS.sub(" ", text))
    out: list[str] = []
    for run in _GRAM_RUN.findall(folded):
        if _HAS_CJK.match(run):
            out.extend(run[i:i + 2] for i in range(max(1, len(run) - 1)))
        else:
            out.append(run)
    return out


def idf_weights(terms: set[str], found: list[set[str]]) -> dict[str, float]:
    """IDF of each question term over the candidate sentences (``found``: the terms each holds):
    a term in every sentence (the article's subject) says less about where the answer is."""
    df = Counter(t for f in found for t in f)
    n = len(found)
    return {t: math.log((n + 1) / (df[t] + 0.5)) for t in terms}


def longest_common_run(a: str, b: str) -> int:
    """Length of the longest substring shared by a and b: a binary search on the length, each
    step a few substring tests (which run in C)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if any(a[i:i + mid] in b for i in range(len(a) - mid + 1)):
            lo = mid
        else:
            hi = mid - 1
    return lo


def question_core(analyzer: Analyzer, text: str) -> str:
    return re.sub(r"[\s？?。，,！!、：:；;“”\"]", "", analyzer.fold(_QUESTION_WORDS.sub("", text)))


def _lead(p) -> str:
    """What a passage is about as a whole: its document title and section path, and the opening
    sentence when it opens its document (encyclopedic text names its subject there). Question
    terms found here hold for every sentence of the passage, so they do not single one out."""
    parts = [p.title, *p.section]
    if p.paragraph == 1:
        parts.append(_OPENING.match(p.clean).group(0))
    return " ".join(parts)


_OPENING = re.compile(rf"[^{re.escape(SENTENCE_STOPS)}\n]*")


def _cut_to_evidence(s: Sentence, question: str) -> Sentence:
    """The window of whole clauses, at most MAX_ANSWER_CHARS long, holding the most question
    bigrams; ties go to the window that reaches further right (answers follow their cue)."""
    parts = clauses(s)
    q_grams = set(re.findall(r"(?=([\u4e00-\u9fff]{2}))", question))
    best, best_key = None, None
    for i in range(len(parts)):
        for j in range(i, len(parts)):
            if parts[j].hi - parts[i].lo > MAX_ANSWER_CHARS:
                break
            window = join(parts[i:j + 1])
            hits = sum(1 for g in q_grams if g in window.clean)
            key = (hits, j - i, j)
            if best_key is None or key > best_key:
                best, best_key = window, key
    if best is None:                    # a single clause longer than the limit
        p = parts[0]
        hi = min(p.hi, p.lo + MAX_ANSWER_CHARS)
        text = p.passage.clean[p.lo:hi]
        from .sentences import clean_offsets

        offsets = [o for o in clean_offsets(p.passage)[p.lo:hi] if o >= 0]
        return Sentence(p.passage, p.index, text, offsets[0], offsets[-1] + 1, p.lo, hi)
    return best


def answer_text(pieces: list[Sentence]) -> str:
    return "".join(p.clean.replace("\n", "") for p in pieces)


_VAGUE = re.compile(r"^(大约|大概|约|左右|现在|目前|主要|第一个|哪个|一个|多少|这个|那个|什么)$")


def specific_terms(question: str, analyzer: Analyzer) -> list[str]:
    """Question terms that name one particular thing: numbers (years, amounts), Latin words and
    proper names (jieba's place/person/organisation tags). An answer passage that lacks one of
    them is about something else: 海淀区 is not 徐汇区, 2030年 is not 2025年."""
    from .question import pos_tagger

    terms = []
    for token in pos_tagger(analyzer).cut(analyzer.fold(question)):
        word, flag = token.word.strip(), token.flag
        if not word or _VAGUE.match(word) or _QUESTION_WORDS.fullmatch(word):
            continue
        if re.search(r"\d", word) or (word.isascii() and len(word) > 1 and word.isalnum()) \
                or (flag in ("ns", "nr", "nt", "nz", "nrt", "nrfg") and len(word) >= 2):
            terms.append(word)
    return list(dict.fromkeys(terms))


def not_found_text(question: str) -> str:
    return NOT_FOUND_EN if is_english(question) else NOT_FOUND_ZH
