"""The answer layer that search/candidates.py + search/answer_model.py replaced (kept here to
measure "before" on the same hits, bench/train_answers.py): candidates from the top 3 passages
scored by hand-set weights, and a logistic confidence over question-level evidence
(bench/answer_before.json, fitted then by the former bench/calibrate.py on the CMRC 2018 trial and
seeds questions)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from wenda.indexer.tokens import Analyzer
from wenda.search.answer import (_QUESTION_WORDS, MAX_ANSWER_CHARS, _cut_to_evidence, _lead, content_grams,
                                 has_kind, has_new_kind, idf_weights, kind_spans, longest_common_run, question_core, question_kind,
                                 specific_terms)
from wenda.search.records import SearchResult
from wenda.search.sentences import Sentence, split_sentences

_CONFIDENCE = json.loads(Path(__file__).with_name("answer_before.json").read_text(encoding="utf-8"))


def confidence_model() -> dict:
    return _CONFIDENCE


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
    q_core = question_core(analyzer, question)
    leads = {id(p): _lead(p) for p in passages}
    lead_grams = {key: set(content_grams(analyzer, text)) & q_grams for key, text in leads.items()}
    lead_words = {key: set(analyzer.tokens(text)) & q_words for key, text in leads.items()}
    s_grams = [set(content_grams(analyzer, s.clean)) & q_grams for _, s in sentences]
    s_words = [set(analyzer.tokens(s.clean)) & q_words for _, s in sentences]
    e_grams = [g | lead_grams[id(s.passage)] for g, (_, s) in zip(s_grams, sentences)]
    e_words = [w | lead_words[id(s.passage)] for w, (_, s) in zip(s_words, sentences)]
    n = len(sentences)
    gram_w, word_w = idf_weights(q_grams, e_grams), idf_weights(q_words, e_words)
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


def assess(answerer, result: SearchResult, ignore_source: str | None = None):
    """The best candidate, all candidates and the evidence features, as the former Answerer did."""
    question, hits = result.query, result.hits
    analyzer = answerer.index.analyzer
    weights = AnswerWeights()
    candidates = score_candidates(question, [h.passage for h in hits[: weights.passages]], analyzer, weights)
    if not candidates:
        return None, [], {}
    best = max(candidates, key=lambda c: c.score)
    specific = specific_terms(question, analyzer)
    unknown = answerer.unknown_terms(question, ignore_source)
    p = best.passage
    context = analyzer.fold("".join([p.title, *p.section, p.clean]))
    missing = [t for t in specific if t not in unknown and t not in context]
    return best, candidates, evidence_features(question, best, hits, analyzer, unknown, missing)
