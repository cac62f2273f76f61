"""Extractive answers: the one or two sentences of the top passages that best answer the
question, each cited with exact offsets, and a calibrated decision between answering and saying
语料中没有找到答案.

Candidates are single sentences and pairs of adjacent sentences (within the length limit) of
the top passages. Score = weighted sum of
- evidence: how much of the question's IDF-weighted character bigrams and jieba words it holds,
  and the longest run of question characters it repeats;
- answer type: the question asks 多少/几 (a number), 什么时候 (a date), 谁 (a person),
  哪里 (a place) and the candidate holds one;
- retrieval: the rank of the candidate's passage.
The weights are measured (bench/answers.md); the confidence model is a logistic regression over
question-level evidence (search/data/confidence.json, fitted by bench/calibrate.py).
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from wenda.indexer.layout import SENTENCE_STOPS
from wenda.indexer.tokens import Analyzer

from .sentences import Sentence, clauses, join, split_sentences

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


@dataclass(frozen=True)
class AnswerWeights:
    """Chosen by coordinate search for the most right answers on CMRC 2018 trial (two-fold
    cross-validated: 0.826 and 0.834 on the held-out halves) and checked on the seeds questions
    (bench/answers.md). Sentence embeddings (e5 cosine of question and sentence) were tried as a
    further signal and lowered accuracy on both sets, so the answer step costs no model call."""

    bigrams: float = 1.0             # IDF-weighted share of the question's character bigrams
    words: float = 0.5               # IDF-weighted share of the question's jieba words
    common_run: float = 0.5          # longest run of question characters, over question length
    answer_type: float = 0.0         # holds the kind of thing asked for (used by compose and confidence)
    passage_rank: float = 0.75       # subtracted per rank below the first passage
    two_sentences: float = -0.25     # a preference for one sentence when it suffices
    new_value: float = 0.0           # holds a number or date that the question does not already name
    passages: int = 3                # how many top passages supply candidate sentences

    def score(self, c: "Candidate", sentences: int) -> float:
        return (self.bigrams * c.bigrams + self.words * c.words + self.common_run * c.common_run
                + self.answer_type * c.typed + self.new_value * c.novel - self.passage_rank * c.rank
                + self.two_sentences * (sentences - 1))


@lru_cache(maxsize=1)
def confidence_model() -> dict:
    """Logistic-regression weights over the features of ``evidence_features`` and the
    threshold, fitted on the public sets by bench/calibrate.py."""
    text = resources.files(__package__).joinpath("data/confidence.json").read_text(encoding="utf-8")
    return json.loads(text)


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


@dataclass
class Candidate:
    """One sentence, or two adjacent sentences of one passage, as a possible answer."""

    pieces: list[Sentence]
    rank: int                # of its passage among the hits, 0 = first
    bigrams: float
    words: float
    common_run: float
    typed: bool
    novel: bool = False
    score: float = 0.0

    @property
    def passage(self):
        return self.pieces[0].passage


def longest_common_run(a: str, b: str) -> int:
    """Length of the longest substring shared by a and b (the question is short: O(len a * len b))."""
    best, previous = 0, [0] * (len(b) + 1)
    for ch in a:
        current = [0] * (len(b) + 1)
        for j, other in enumerate(b, 1):
            if ch == other:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best = current[j]
        previous = current
    return best


def _core(analyzer: Analyzer, text: str) -> str:
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


def score_candidates(question: str, passages: list, analyzer: Analyzer,
                     weights: AnswerWeights = AnswerWeights()) -> list[Candidate]:
    """Every sentence, and every pair of adjacent sentences that fits the length limit, of the
    given passages, scored. Term weights are IDF over these sentences: a word in every sentence
    (the article's subject) tells less about where the answer is than one in a single sentence;
    terms of a passage's lead (``_lead``) count as present in each of its sentences."""
    sentences = [(rank, s) for rank, p in enumerate(passages) for s in split_sentences(p)]
    if not sentences:
        return []
    q_grams = set(content_grams(analyzer, question))
    q_words = set(analyzer.tokens(_QUESTION_WORDS.sub(" ", question)))
    q_core = _core(analyzer, question)
    leads = {id(p): _lead(p) for p in passages}
    lead_grams = {key: set(content_grams(analyzer, text)) & q_grams for key, text in leads.items()}
    lead_words = {key: set(analyzer.tokens(text)) & q_words for key, text in leads.items()}
    s_grams = [set(content_grams(analyzer, s.clean)) & q_grams for _, s in sentences]
    s_words = [set(analyzer.tokens(s.clean)) & q_words for _, s in sentences]
    e_grams = [g | lead_grams[id(s.passage)] for g, (_, s) in zip(s_grams, sentences)]
    e_words = [w | lead_words[id(s.passage)] for w, (_, s) in zip(s_words, sentences)]
    n = len(sentences)
    gram_df, word_df = Counter(), Counter()
    for g, w in zip(e_grams, e_words):
        gram_df.update(g)
        word_df.update(w)
    gram_w = {g: math.log((n + 1) / (gram_df[g] + 0.5)) for g in q_grams}
    word_w = {w: math.log((n + 1) / (word_df[w] + 0.5)) for w in q_words}
    gram_total, word_total = sum(gram_w.values()) or 1.0, sum(word_w.values()) or 1.0
    kind = question_kind(question)
    q_kind_spans = kind_spans(question, kind)
    typed = [has_kind(s.clean, kind) for _, s in sentences]
    novel = [has_new_kind(s.clean, kind, q_kind_spans) for _, s in sentences]
    out = []
    for i, (rank, s) in enumerate(sentences):
        spans = [(i,)]
        if i + 1 < n and sentences[i + 1][1].passage is s.passage \
                and len(s.clean) + len(sentences[i + 1][1].clean) <= MAX_ANSWER_CHARS:
            spans.append((i, i + 1))
        for span in spans:
            grams = set().union(*(e_grams[j] for j in span))
            words = set().union(*(e_words[j] for j in span))
            text = analyzer.fold("".join(sentences[j][1].clean for j in span))
            c = Candidate([sentences[j][1] for j in span], rank,
                          sum(gram_w[g] for g in grams) / gram_total,
                          sum(word_w[w] for w in words) / word_total,
                          longest_common_run(q_core, text) / max(1, len(q_core)),
                          any(typed[j] for j in span), any(novel[j] for j in span))
            c.score = weights.score(c, len(span))
            out.append(c)
    return out


def compose(best: Candidate, candidates: list[Candidate], question: str) -> list[Sentence]:
    """The answer's pieces. A single sentence longer than the limit is cut to the clauses around
    its evidence; a short one is joined by its neighbour when the neighbour holds the kind of
    thing asked for, or else by the following sentence, while both fit."""
    if len(best.pieces) == 2:
        return best.pieces
    s = best.pieces[0]
    if len(s.clean) > MAX_ANSWER_CHARS:
        return [_cut_to_evidence(s, question)]
    siblings = {c.pieces[0].index: c.pieces[0] for c in candidates
                if len(c.pieces) == 1 and c.passage is s.passage}
    following, preceding = siblings.get(s.index + 1), siblings.get(s.index - 1)
    kind = question_kind(question)
    options = []
    for other, after in ((following, True), (preceding, False)):
        if other and len(s.clean) + len(other.clean) <= MAX_ANSWER_CHARS:
            options.append((has_kind(other.clean, kind) and not best.typed, after, other))
    if not options:
        return [s]
    _, after, other = max(options, key=lambda o: (o[0], o[1]))
    return [s, other] if after else [other, s]


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


def evidence_features(question: str, best: Candidate, hits: list, analyzer: Analyzer,
                      unknown_terms: list[str], missing_terms: list[str]) -> dict[str, float]:
    """Question-level evidence for the confidence model."""
    return {
        "bigrams": best.bigrams,
        "words": best.words,
        "common_run": best.common_run,
        "novel": float(best.novel),
        "asks_kind": float(question_kind(question) is not None),
        "unknown_terms": float(min(len(unknown_terms), 2)),
        "missing_terms": float(min(len(missing_terms), 2)),
        "passage_dense": float(hits[0].scores.dense) if hits else 0.0,
    }


def confidence(features: dict[str, float]) -> float:
    model = confidence_model()
    z = model["intercept"] + sum(w * features.get(name, 0.0) for name, w in model["weights"].items())
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


_VAGUE = re.compile(r"^(大约|大概|约|左右|现在|目前|主要|第一个|哪个|一个|多少|这个|那个|什么)$")


def specific_terms(question: str, analyzer: Analyzer) -> list[str]:
    """Question terms that name one particular thing: numbers (years, amounts), Latin words and
    proper names (jieba's place/person/organisation tags). An answer passage that lacks one of
    them is about something else: 海淀区 is not 徐汇区, 2030年 is not 2025年."""
    import jieba.posseg

    terms = []
    for token in jieba.posseg.cut(analyzer.fold(question)):
        word, flag = token.word.strip(), token.flag
        if not word or _VAGUE.match(word) or _QUESTION_WORDS.fullmatch(word):
            continue
        if re.search(r"\d", word) or (word.isascii() and len(word) > 1 and word.isalnum()) \
                or (flag in ("ns", "nr", "nt", "nz", "nrt", "nrfg") and len(word) >= 2):
            terms.append(word)
    return list(dict.fromkeys(terms))


def not_found_text(question: str) -> str:
    return NOT_FOUND_EN if is_english(question) else NOT_FOUND_ZH
