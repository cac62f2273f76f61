"""Answer candidates across the top passages, and the features the answer model reads.

Every sentence of the top ``PASSAGES`` hits is a candidate. Its features look at the sentence, at
it with its neighbours, and at its passage: how much of the question's weighted terms it holds
(character bigrams, jieba words, the question analysis's terms), whether it holds the focus (the
attribute asked for) and the constraints (places, organisations, years), whether it holds a
phrase of the asked type near those terms, and how its passage ranked. Training
(bench/train_answers.py) and serving compute them with this one function.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from wenda.indexer.tokens import Analyzer

from . import answer as extract
from .answer_span import TYPED, term_positions, typed_spans
from .question import ASKED_TYPES, Question
from .records import Hit
from .sentences import Sentence, split_sentences

PASSAGES = 8            # how many top passages supply candidate sentences
_LANGUAGES = ("zh", "mixed", "en")

FEATURES = (
    # the question
    "asked", "has_unit", "constraints", "terms", "question_chars", "language", "unknown_terms",
    # the passage
    "rank", "fused", "fused_gap", "dense", "dense_gap", "words_bm25", "grams_bm25", "passage_sentences",
    "constraints_in_passage", "constraints_in_lead", "passage_best_bigrams",
    # the sentence
    "position", "first", "chars", "bigrams", "bigrams_gap", "prior_order", "bigrams_context", "bigrams_lead",
    "words", "words_context", "words_lead", "common_run", "prior",
    "term_cover", "term_cover_gap", "term_cover_context", "term_cover_lead",
    "focus", "focus_context", "constraints_in_sentence", "constraints_in_context",
    "typed", "typed_unit", "typed_distance", "typed_context", "novel",
)


@dataclass
class SentenceCandidate:
    sentence: Sentence
    rank: int                   # of its passage among the hits, 0 = first
    features: dict[str, float]
    probability: float = 0.0

    @property
    def passage(self):
        return self.sentence.passage


def _lead(p) -> str:
    return extract._lead(p)


def _cover(found: set[str], weights: dict[str, float], total: float) -> float:
    # fsum: a set's order changes with the process's string hashing, and a plain sum's last bit
    # (and so ties of "prior", and its order feature) would change with it
    return math.fsum(weights[g] for g in found) / total if total else 0.0


def _share(needle: str, haystack: str) -> float:
    """1 when the haystack holds the needle, else the share of its bigrams it holds."""
    if not needle:
        return 0.0
    if needle in haystack:
        return 1.0
    grams = {needle[i:i + 2] for i in range(len(needle) - 1)}
    return sum(g in haystack for g in grams) / len(grams) if grams else 0.0


def _present(constraints: list[str], text: str) -> float:
    return sum(c in text for c in constraints) / len(constraints) if constraints else 1.0


def build_candidates(question: str, analysis: Question, hits: list[Hit], analyzer: Analyzer,
                     unknown_terms: int = 0) -> list[SentenceCandidate]:
    """The sentence candidates of the top hits with their features (see FEATURES)."""
    hits = hits[:PASSAGES]
    per_passage = [(rank, h, split_sentences(h.passage)) for rank, h in enumerate(hits)]
    sentences = [(rank, h, s) for rank, h, ss in per_passage for s in ss]
    if not sentences:
        return []
    folded = [analyzer.fold(s.clean) for _, _, s in sentences]
    leads = {rank: analyzer.fold(_lead(h.passage)) for rank, h, _ in per_passage}
    lead_grams = {rank: set(extract.content_grams(analyzer, text)) for rank, text in leads.items()}
    passage_text = {rank: analyzer.fold(h.passage.clean) for rank, h, _ in per_passage}

    matching = analysis.matching_text       # English words matched by their Chinese wording
    q_grams = set(extract.content_grams(analyzer, matching))
    q_words = set(analyzer.tokens(extract._QUESTION_WORDS.sub(" ", matching)))
    q_core = extract.question_core(analyzer, matching)
    s_grams = [set(extract.content_grams(analyzer, t)) & q_grams for t in folded]
    # Question words looked up as substrings: segmenting every sentence with jieba cost 5 ms each.
    s_words = [{w for w in q_words if w in t} for t in folded]
    n = len(sentences)
    gram_w, word_w = extract.idf_weights(q_grams, s_grams), extract.idf_weights(q_words, s_words)
    gram_total, word_total = math.fsum(gram_w.values()), math.fsum(word_w.values())

    terms = [t for t in analysis.terms if t.source != "generic" and t.text]
    term_total = sum(t.weight for t in terms)

    def term_cover(text: str) -> float:
        return sum(t.weight for t in terms if t.text in text) / term_total if term_total else 0.0

    constraints = [c.text for c in analysis.constraints]
    focus = analysis.focus or ""
    kind = extract.question_kind(question)
    q_known = extract.kind_spans(question, kind)
    top = hits[0].scores
    max_words = max((h.scores.lexical for h in hits), default=0.0) or 1.0
    max_grams = max((h.scores.grams for h in hits), default=0.0) or 1.0
    asked_typed = analysis.asked in TYPED

    typed_here: list[tuple[bool, bool, float]] = []
    for i, ((_, _, s), text) in enumerate(zip(sentences, folded)):
        # Sentences sharing nothing with the question are not searched for typed phrases (tagging
        # names costs a few ms a sentence); their other features already rule them out.
        wanted = asked_typed and (s_grams[i] or s_words[i])
        spans = [sp for sp in typed_spans(s.clean, analysis.asked, analyzer, analysis.unit)
                 if analyzer.fold(sp.text) not in analysis.folded] if wanted else []
        cues = term_positions(text, analysis) if spans and len(text) == len(s.clean) else []
        distance = min((max(lo - sp.hi, sp.lo - hi, 0) for sp in spans for lo, hi in cues), default=60)
        typed_here.append((bool(spans), bool(analysis.unit) and any(analysis.unit in sp.text for sp in spans),
                           min(distance, 60) / 60))

    rows = []
    for i, ((rank, h, s), text) in enumerate(zip(sentences, folded)):
        same = [j for j in (i - 1, i + 1) if 0 <= j < n and sentences[j][0] == rank]
        context = text + "".join(folded[j] for j in same)
        lead = leads[rank]
        sc = h.scores
        grams_context = s_grams[i].union(*(s_grams[j] for j in same))
        grams_lead = s_grams[i] | (lead_grams[rank] & q_grams)
        words_context = s_words[i].union(*(s_words[j] for j in same))
        words_lead = s_words[i] | {w for w in q_words if w in lead}
        common_run = extract.longest_common_run(q_core, text) / max(1, len(q_core))
        rows.append({
            "asked": float(ASKED_TYPES.index(analysis.asked)),
            "has_unit": float(bool(analysis.unit)),
            "constraints": float(len(constraints)),
            "terms": float(len(terms)),
            "question_chars": float(min(len(question), 200)),
            "language": float(_LANGUAGES.index(analysis.language) if analysis.language in _LANGUAGES else 0),
            "unknown_terms": float(min(unknown_terms, 3)),
            "rank": float(rank),
            "fused": sc.fused,
            "fused_gap": top.fused - sc.fused,
            "dense": sc.dense,
            "dense_gap": top.dense - sc.dense,
            "words_bm25": sc.lexical / max_words,
            "grams_bm25": sc.grams / max_grams,
            "passage_sentences": float(len(per_passage[rank][2])),
            "constraints_in_passage": _present(constraints, passage_text[rank] + lead),
            "constraints_in_lead": _present(constraints, lead),
            "position": float(s.index),
            "first": float(s.index == 0),
            "chars": float(min(len(s.clean), 400)),
            "bigrams": _cover(s_grams[i], gram_w, gram_total),
            "bigrams_context": _cover(grams_context, gram_w, gram_total),
            "bigrams_lead": _cover(grams_lead, gram_w, gram_total),
            "words": _cover(s_words[i], word_w, word_total),
            "words_context": _cover(words_context, word_w, word_total),
            "words_lead": _cover(words_lead, word_w, word_total),
            "common_run": common_run,
            # the former hand-set score (bigrams 1, words 0.5, repeated run 0.5, rank -0.75): a
            # strong single direction that trees otherwise approximate in many splits
            "prior": _cover(grams_lead, gram_w, gram_total) + 0.5 * _cover(words_lead, word_w, word_total)
            + 0.5 * common_run - 0.75 * rank,
            "term_cover": term_cover(text),
            "term_cover_context": term_cover(context),
            "term_cover_lead": term_cover(text + lead),
            "focus": _share(focus, text),
            "focus_context": _share(focus, context),
            "constraints_in_sentence": _present(constraints, text),
            "constraints_in_context": _present(constraints, context),
            "typed": float(typed_here[i][0]),
            "typed_unit": float(typed_here[i][1]),
            "typed_distance": typed_here[i][2],
            "typed_context": float(any(typed_here[j][0] for j in same)),
            "novel": float(extract.has_new_kind(s.clean, kind, q_known)),
        })
    best_bigrams = max(r["bigrams"] for r in rows)
    best_cover = max(r["term_cover"] for r in rows)
    passage_best: dict[int, float] = {}
    for (rank, _, _), row in zip(sentences, rows):
        passage_best[rank] = max(passage_best.get(rank, 0.0), row["bigrams"])
    order = sorted(range(n), key=lambda j: -rows[j]["prior"])
    out = []
    for place, j in enumerate(order):
        rows[j]["prior_order"] = float(min(place, 20))
    for (rank, _, s), row in zip(sentences, rows):
        row["bigrams_gap"] = best_bigrams - row["bigrams"]
        row["term_cover_gap"] = best_cover - row["term_cover"]
        row["passage_best_bigrams"] = passage_best[rank]
        out.append(SentenceCandidate(s, rank, row))
    return out


def feature_matrix(candidates: list[SentenceCandidate]) -> np.ndarray:
    return np.array([[c.features[name] for name in FEATURES] for c in candidates], dtype=np.float64)


def siblings_of(candidates: list[SentenceCandidate]) -> dict[tuple[str, int], SentenceCandidate]:
    return {(c.sentence.passage.passage_id, c.sentence.index): c for c in candidates}


def compose(best: SentenceCandidate, candidates: list[SentenceCandidate], question: str,
            siblings: dict[tuple[str, int], SentenceCandidate] | None = None) -> list[Sentence]:
    """The answer's pieces: the chosen sentence, cut to the clauses around its evidence when it is
    longer than the limit; a short one is joined by a neighbour that holds the kind of thing asked
    for when it does not itself, or else by the following sentence, while both fit."""
    s = best.sentence
    if len(s.clean) > extract.MAX_ANSWER_CHARS:
        return [extract._cut_to_evidence(s, question)]
    siblings = siblings_of(candidates) if siblings is None else siblings
    options = []
    for offset, after in ((1, True), (-1, False)):
        other = siblings.get((s.passage.passage_id, s.index + offset))
        if other and len(s.clean) + len(other.sentence.clean) <= extract.MAX_ANSWER_CHARS:
            options.append((bool(other.features["typed"]) and not best.features["typed"], after, other.sentence))
    if not options:
        return [s]
    _, after, other = max(options, key=lambda o: (o[0], o[1]))
    return [s, other] if after else [other, s]
