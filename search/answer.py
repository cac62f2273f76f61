"""Extractive answers: the one or two sentences of the top passages that best answer the
question, each cited with exact offsets, and a calibrated decision between answering and saying
语料中没有找到答案.

Sentence score = weighted sum of
- evidence: how much of the question's (IDF-weighted) character bigrams the sentence holds;
- meaning: cosine of the question and the sentence embeddings;
- answer type: the question asks 多少/几 (a number), 什么时候 (a date), 谁 (a person),
  哪里 (a place) and the sentence holds one;
- retrieval: the rank of the sentence's passage.
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

import numpy as np

from indexer.tokens import Analyzer

from .sentences import Sentence, clauses, join, split_sentences

MAX_ANSWER_CHARS = 160
MAX_ANSWER_SENTENCES = 2
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
    evidence: float = 1.0
    meaning: float = 1.0
    answer_type: float = 0.2
    passage_rank: float = 0.05       # subtracted per rank below the first passage
    passages: int = 3                # how many top passages supply candidate sentences


@lru_cache(maxsize=1)
def confidence_model() -> dict:
    """Logistic-regression weights over the features of ``evidence_features`` and the
    threshold, fitted on the public sets by bench/calibrate.py."""
    text = resources.files("search").joinpath("data/confidence.json").read_text(encoding="utf-8")
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
    sentence: Sentence
    rank: int                # of its passage among the hits, 0 = first
    evidence: float          # weighted share of the question's bigrams present
    meaning: float           # cosine(question, sentence)
    typed: bool              # holds the kind of thing asked for
    score: float = 0.0


def score_sentences(question: str, qvec: np.ndarray, passages: list, sentence_vectors, analyzer: Analyzer,
                    weights: AnswerWeights, idf) -> list[Candidate]:
    """Every sentence of the given passages, scored. ``sentence_vectors(sentences)`` returns
    their embeddings; ``idf(grams)`` the inverse document frequency of each bigram."""
    sentences = [(rank, s) for rank, p in enumerate(passages) for s in split_sentences(p)]
    if not sentences:
        return []
    q_grams = set(content_grams(analyzer, question))
    gram_weight = dict(zip(q_grams, idf(list(q_grams)))) if q_grams else {}
    total = sum(gram_weight.values()) or 1.0
    kind = question_kind(question)
    vecs = sentence_vectors([s for _, s in sentences])
    meaning = vecs @ qvec if len(vecs) else np.zeros(len(sentences))
    out = []
    for (rank, s), cos in zip(sentences, meaning):
        grams = set(content_grams(analyzer, s.clean))
        evidence = sum(gram_weight[g] for g in q_grams & grams) / total
        c = Candidate(s, rank, evidence, float(cos), has_kind(s.clean, kind))
        c.score = (weights.evidence * c.evidence + weights.meaning * c.meaning
                   + weights.answer_type * c.typed - weights.passage_rank * rank)
        out.append(c)
    return out


def compose(best: Candidate, candidates: list[Candidate], question: str) -> list[Sentence]:
    """The answer's pieces: the best sentence, cut to the clauses around its evidence when it is
    longer than the limit; then a neighbouring sentence of the same passage while both fit
    (the answer often sits just after the sentence that repeats the question)."""
    s = best.sentence
    if len(s.clean) > MAX_ANSWER_CHARS:
        return [_cut_to_evidence(s, question)]
    siblings = {c.sentence.index: c for c in candidates if c.sentence.passage.passage_id == s.passage.passage_id}
    following, preceding = siblings.get(s.index + 1), siblings.get(s.index - 1)
    kind = question_kind(question)
    options = []
    for other, after in ((following, True), (preceding, False)):
        if other and len(s.clean) + len(other.sentence.clean) <= MAX_ANSWER_CHARS:
            # Prefer the neighbour holding the kind of thing asked for; else the following one.
            options.append((has_kind(other.sentence.clean, kind) and not best.typed, after, other))
    if not options:
        return [s]
    _, after, other = max(options, key=lambda o: (o[0], o[1]))
    return [s, other.sentence] if after else [other.sentence, s]


def _cut_to_evidence(s: Sentence, question: str) -> Sentence:
    """The window of whole clauses, at most MAX_ANSWER_CHARS long, holding the most question
    bigrams; ties go to the window that reaches further right (answers follow their cue)."""
    parts = clauses(s)
    q_grams = set(re.findall(r"(?=([\u4e00-\u9fff]{2}))", question))
    best, best_key = None, None
    for i in range(len(parts)):
        length = 0
        for j in range(i, len(parts)):
            length = parts[j].end - parts[i].start
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


def evidence_features(question: str, best: Candidate, hits: list, analyzer: Analyzer, idf,
                      rare_terms: list[str]) -> dict[str, float]:
    """Question-level evidence for the confidence model."""
    context = "".join([best.sentence.passage.title, *best.sentence.passage.section, best.sentence.passage.clean])
    folded = analyzer.fold(context)
    missing_rare = sum(1 for t in rare_terms if t not in folded)
    return {
        "evidence": best.evidence,
        "meaning": best.meaning,
        "typed": float(best.typed),
        "asks_kind": float(question_kind(question) is not None),
        "missing_rare": float(missing_rare),
        "any_missing_rare": float(missing_rare > 0),
        "passage_dense": float(hits[0].scores.dense) if hits else 0.0,
    }


def confidence(features: dict[str, float]) -> float:
    model = confidence_model()
    z = model["intercept"] + sum(w * features.get(name, 0.0) for name, w in model["weights"].items())
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def rare_question_terms(question: str, analyzer: Analyzer, doc_freq, n_passages: int) -> list[str]:
    """Question terms that name specific things: numbers, Latin words, and words found in few
    passages. An answer passage that lacks one of them is about something else."""
    terms = []
    for t in dict.fromkeys(analyzer.tokens(question)):
        if _QUESTION_WORDS.fullmatch(t):
            continue
        df = doc_freq(t)
        specific = bool(re.search(r"\d", t)) or (t.isascii() and len(t) > 1)
        rare = len(t) >= 2 and df <= max(2, 0.02 * n_passages)
        if specific or rare:
            terms.append(t)
    # keep only the longest of nested terms (上海市 covers 上海)
    return [t for t in terms if not any(t != u and t in u for u in terms)]


def not_found_text(question: str) -> str:
    return NOT_FOUND_EN if is_english(question) else NOT_FOUND_ZH


def gram_idf(doc_freq_many, n_passages: int):
    """An idf(grams) function over the index's bigram document frequencies."""
    def idf(grams: list[str]) -> list[float]:
        freqs = doc_freq_many(grams)
        return [math.log(1 + (n_passages - f + 0.5) / (f + 0.5)) for f in freqs]

    return idf


def local_counts(texts: list[str]) -> Counter:
    counts: Counter = Counter()
    for t in texts:
        counts.update(set(t))
    return counts
